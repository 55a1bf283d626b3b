import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { GuestHealth } from "../../api/agent.js";
import { isBangerError } from "../../errors/index.js";
import { AgentClient, type Identity } from "./AgentClient.js";
import { FAKE_HEALTH, FakeAgent, type FakeAgentOptions } from "./FakeAgent.js";

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "banger-agent-client-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withAgent(
  opts: Omit<FakeAgentOptions, "socketPath">,
  fn: (agent: FakeAgent, client: AgentClient) => Promise<void>,
): Promise<void> {
  const socketPath = path.join(dir, `a${n++}.sock`);
  const agent = await FakeAgent.start({ ...opts, socketPath });
  const driver = opts.firecracker ? "firecracker" : "qemu";
  const client = await AgentClient.connect({ driver, agentSocket: socketPath }, { requestTimeoutMs: 2000 });
  try {
    await fn(agent, client);
  } finally {
    client.close();
    await agent.stop();
  }
}

function collect() {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return {
    onStdout: (b: Buffer) => out.push(b),
    onStderr: (b: Buffer) => err.push(b),
    out: () => Buffer.concat(out).toString(),
    err: () => Buffer.concat(err).toString(),
  };
}

const bangerError = (code: string, message: RegExp) => (e: unknown) => {
  assert.ok(isBangerError(e), `not a BangerError: ${String(e)}`);
  assert.equal(e.code, code);
  assert.match(e.message, message);
  return true;
};

describe("AgentClient over a QEMU-style socket", () => {
  it("pings, reads health and ports, several requests in flight at once", () =>
    withAgent({ ports: [{ proto: "tcp", address: "0.0.0.0", port: 22 }] }, async (agent, client) => {
      const [version, health, ports] = await Promise.all([client.ping(), client.health(), client.ports()]);
      assert.equal(version, "1");
      assert.deepEqual(health, FAKE_HEALTH);
      assert.deepEqual(ports, [{ proto: "tcp", address: "0.0.0.0", port: 22 }]);
      const ids = agent.lines.map((l) => Number(l.split(" ")[0]));
      assert.equal(new Set(ids).size, 3, "every request has its own id");
    }));

  it("runs commands: output streams, exit codes, cwd and env, concurrent execs", () =>
    withAgent({}, async (_agent, client) => {
      const a = collect();
      const b = collect();
      const [ca, cb] = await Promise.all([
        client.exec(["echo", "hello", "world"], a),
        client.exec(["fail", "3"], b),
      ]);
      assert.deepEqual([ca, cb, a.out(), b.err()], [0, 3, "hello world\n", "failing\n"]);
      const c = collect();
      await client.exec(["pwd-env", ""], { ...c, cwd: "/srv", env: { A: "x y", B: "" } });
      assert.deepEqual(JSON.parse(c.out()), { cwd: "/srv", env: ["A=x y", "B="], argv: ["pwd-env", ""] });
    }));

  it("writes stdin (a string, or an async iterable) and then closes it", () =>
    withAgent({}, async (agent, client) => {
      const a = collect();
      assert.equal(await client.exec(["cat"], { ...a, stdin: "line 1\n" }), 0);
      assert.equal(a.out(), "line 1\n");
      async function* chunks() {
        yield "a";
        yield Buffer.from("b");
      }
      const b = collect();
      assert.equal(await client.exec(["cat"], { ...b, stdin: chunks() }), 0);
      assert.equal(b.out(), "ab");
      assert.ok(agent.lines.some((l) => l.endsWith(" stdin-eof")));
    }));

  it("an abort sends SIGTERM, then SIGKILL after the grace time; the exit code says which", () =>
    withAgent({}, async (agent, client) => {
      const ac = new AbortController();
      const p = client.exec(["sleep", "60"], { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      assert.equal(await p, 143);
      const stubborn = new AbortController();
      const q = client.exec(["stubborn"], { signal: stubborn.signal, killGraceMs: 50 });
      stubborn.abort();
      assert.equal(await q, 137);
      const kills = agent.lines.filter((l) => / kill /.test(l)).map((l) => l.split(" ")[2]);
      assert.deepEqual(kills, ["15", "15", "9"]);
      await assert.rejects(
        client.exec(["sleep"], { signal: AbortSignal.abort() }),
        bangerError("CANCELLED", /cancelled before it started/),
      );
    }));

  it("a command the agent cannot start rejects with its reason", () =>
    withAgent({}, async (_agent, client) => {
      await assert.rejects(
        client.exec(["nosuch"]),
        bangerError("COMMAND_FAILED", /^nosuch in the guest: cannot run nosuch: No such file/),
      );
      await assert.rejects(client.exec([]), bangerError("INVALID_ARGUMENT", /needs a command/));
    }));

  it("ignores garbage and stale replies of unknown ids", () =>
    withAgent({}, async (agent, client) => {
      await client.ping();
      agent.inject("garbage\n1 pong 1\n0 error aGk=\n");
      assert.equal(await client.ping(), "1");
    }));

  it("a reply of the wrong shape fails that request with PROTOCOL", () =>
    withAgent({ health: { uptimeSec: 1 } as unknown as GuestHealth }, async (_agent, client) => {
      await assert.rejects(client.health(), bangerError("PROTOCOL", /health JSON of the wrong shape/));
      assert.equal(await client.ping(), "1", "the connection stays usable");
    }));

  it("a silent agent times out with a message that says so", () =>
    withAgent({ silent: true }, async (_agent, client) => {
      await assert.rejects(client.ping({ timeoutMs: 200 }), (e: unknown) => {
        bangerError("TIMEOUT", /^the guest agent did not answer within 0\.2 s \(ping\)$/)(e);
        assert.match((e as { hint?: string }).hint ?? "", /booting.*one agent client at a time/);
        return true;
      });
      assert.equal(client.closed, false);
    }));

  it("a dropped connection fails what is in flight and closes the client", () =>
    withAgent({}, async (agent, client) => {
      const p = client.exec(["sleep"]);
      await client.ping();
      agent.dropConnections();
      await assert.rejects(p, bangerError("VMM", /connection to the guest agent closed/));
      assert.equal(client.closed, true);
      await assert.rejects(client.ping(), bangerError("VMM", /closed/));
    }));

  it("close() fails requests in flight with CANCELLED", () =>
    withAgent({ silent: true }, async (_agent, client) => {
      const p = client.health();
      client.close();
      await assert.rejects(p, bangerError("CANCELLED", /was closed/));
    }));
});

describe("AgentClient over Firecracker's hybrid vsock", () => {
  it("sends CONNECT 1024, then speaks the protocol", () =>
    withAgent({ firecracker: true }, async (agent, client) => {
      assert.equal(await client.ping(), "1");
      assert.equal(await client.exec(["echo", "x"]), 0);
      assert.ok(agent.lines.every((l) => !l.startsWith("CONNECT")));
    }));

  it("says the agent is not listening when Firecracker drops the CONNECT", async () => {
    const socketPath = path.join(dir, "refuse.sock");
    const agent = await FakeAgent.start({ socketPath, firecracker: true, refuseVsock: true });
    try {
      await assert.rejects(
        AgentClient.connect({ driver: "firecracker", agentSocket: socketPath }),
        bangerError("VMM", /not listening on vsock port 1024/),
      );
    } finally {
      await agent.stop();
    }
  });
});

describe("AgentClient.connect errors", () => {
  it("a missing socket or one nobody accepts on: the VM is not running", async () => {
    const missing = path.join(dir, "missing.sock");
    await assert.rejects(
      AgentClient.connect({ driver: "qemu", agentSocket: missing }),
      bangerError("CONFLICT", /does not exist: the VM is not running/),
    );
    const dead = path.join(dir, "dead.sock");
    await writeFile(dead, "");
    await assert.rejects(
      AgentClient.connect({ driver: "qemu", agentSocket: dead }),
      bangerError("CONFLICT", /refuses connections: the VM is not running/),
    );
  });
});

describe("AgentClient.sync and setIdentity (agent version 3)", () => {
  const idn: Identity = {
    hostname: "fork-2",
    machineId: "abcdef0123456789abcdef0123456789",
    network: { ip: "10.0.0.9", prefixLen: 24, gateway: "10.0.0.1", mac: "06:00:0a:00:00:09" },
  };

  it("sync resolves on ok; setIdentity sends one request with the host's clock and fresh entropy", () =>
    withAgent({ version: 3 }, async (agent, client) => {
      await client.sync();
      assert.equal(agent.syncs, 1);
      const before = Date.now();
      await client.setIdentity(idn);
      assert.equal(agent.identities.length, 1);
      const got = agent.identities[0]!;
      assert.deepEqual(
        { ...got, clockMs: 0, entropy: undefined },
        { ...idn, clockMs: 0, entropy: undefined },
      );
      assert.ok(got.clockMs! >= before && got.clockMs! <= Date.now());
      assert.equal(got.entropy?.length, 64);
      assert.equal(agent.lines.filter((l) => / identity /.test(l)).length, 1);
    }));

  it("a step the guest could not do rejects with the agent's message", () =>
    withAgent(
      { version: 3, identityError: "identity: network: add the default route: No such process" },
      (_a, client) =>
        assert.rejects(
          client.setIdentity(idn),
          bangerError(
            "COMMAND_FAILED",
            /^identity in the guest failed: identity: network: add the default route/,
          ),
        ),
    ));

  it("a bad identity is refused before anything is sent", () =>
    withAgent({ version: 3 }, async (agent, client) => {
      await assert.rejects(
        client.setIdentity({ ...idn, machineId: "nope" }),
        bangerError("INVALID_ARGUMENT", /bad machineId/),
      );
      assert.deepEqual(agent.lines, []);
    }));

  for (const version of [1, 2]) {
    it(`an agent of version ${version} is too old: the error says so and which version it is`, () =>
      withAgent({ version }, async (_agent, client) => {
        await assert.rejects(
          client.sync(),
          bangerError(
            "CONFLICT",
            new RegExp(`^the guest agent \\(version ${version}\\) is too old for sync; rebuild the image$`),
          ),
        );
        await assert.rejects(
          client.setIdentity(idn),
          bangerError(
            "CONFLICT",
            new RegExp(`\\(version ${version}\\) is too old for identity; rebuild the image`),
          ),
        );
      }));
  }
});
