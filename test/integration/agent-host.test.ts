/**
 * The REAL C guest agent, compiled with the host's gcc and run on the host
 * with `--unix PATH` in a temp dir, driven by AgentClient. No root, no network.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isBangerError } from "../../src/errors/index.js";
import { buildAgent } from "../../src/guest/agent/buildAgent.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { AgentClient } from "../../src/services/agent/AgentClient.js";
import { waitFor as waitUntil } from "../../src/util/poll.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";

const noGcc = (await findExecutable("gcc")) ? false : "gcc not found (apt-get install gcc libc6-dev)";

let dir: string;
let socketPath: string;
let agent: ChildProcess | undefined;
let agentStderr = "";
let client: AgentClient;

async function waitFor(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  await waitUntil(fn, { timeoutMs, intervalMs: 20, what });
}

async function run(argv: string[], opts: Parameters<AgentClient["exec"]>[1] = {}) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await client.exec(argv, {
    onStdout: (b) => out.push(b),
    onStderr: (b) => err.push(b),
    ...opts,
  });
  return { code, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Two ed25519 host keys, an encrypted one and an RSA one, made by ssh-keygen in DIR. */
async function sshKeys(dir: string) {
  const runner = new NodeCommandRunner();
  const make = async (name: string, ...args: string[]) => {
    const f = path.join(dir, name);
    await runner.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", f, ...args]);
    return { key: await readFile(f, "utf8"), pub: (await readFile(`${f}.pub`, "utf8")).trim() };
  };
  const a = await make("a", "-t", "ed25519");
  const b = await make("b", "-t", "ed25519");
  const rsa = await make("r", "-t", "rsa");
  await make("l", "-t", "ed25519");
  await runner.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "secret", "-f", path.join(dir, "l")]);
  const locked = await readFile(path.join(dir, "l"), "utf8");
  return { a: a.key, aPub: a.pub, bPub: b.pub, rsa: rsa.key, locked };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Send raw lines on a fresh connection and collect the reply lines. */
async function rawExchange(lines: string[], expect: number): Promise<string[]> {
  const s = net.connect(socketPath);
  let got = "";
  s.on("data", (d) => (got += d.toString()));
  await new Promise((r) => s.once("connect", r));
  s.write(lines.join(""));
  await waitFor("the agent's error replies", () => got.split("\n").length > expect);
  s.destroy();
  return got.split("\n").filter(Boolean);
}

describe("the real C agent on the host (--unix)", { skip: noGcc }, () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-agent-host-"));
    const bin = await buildAgent({ runner: new NodeCommandRunner(), outDir: path.join(dir, "bin") });
    socketPath = path.join(dir, "agent.sock");
    agent = spawn(bin, ["--unix", socketPath], { stdio: ["ignore", "ignore", "pipe"] });
    agent.stderr?.on("data", (d) => (agentStderr += d.toString()));
    await waitFor("the agent's socket", () => existsSync(socketPath));
    client = await AgentClient.connect({ driver: "qemu", agentSocket: socketPath });
  });

  after(async () => {
    client?.close();
    if (agent?.pid && agent.exitCode === null) {
      agent.kill("SIGKILL");
      await new Promise((r) => agent?.once("exit", r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers ping quickly", async (t) => {
    assert.equal(await client.ping(), "3");
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await client.ping();
      times.push(performance.now() - t0);
    }
    t.diagnostic(`ping round trip: median ${median(times).toFixed(3)} ms over 200`);
  });

  it("reports health with sane numbers", async () => {
    const h = await client.health();
    assert.ok(h.uptimeSec > 0);
    assert.equal(h.load.length, 3);
    assert.ok(h.load.every((l) => l >= 0));
    assert.ok(h.memory.totalBytes > 64 * 1024 * 1024);
    assert.ok(h.memory.availableBytes > 0 && h.memory.availableBytes <= h.memory.totalBytes);
    const root = h.disks.find((d) => d.mount === "/");
    assert.ok(root && root.totalBytes > 0 && root.usedBytes > 0 && root.usedBytes <= root.totalBytes);
  });

  it("lists a TCP listener the test opens, without duplicates", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const ports = await client.ports();
      assert.ok(ports.some((p) => p.proto === "tcp" && p.address === "127.0.0.1" && p.port === port));
      const keys = ports.map((p) => `${p.proto} ${p.address} ${p.port}`);
      assert.equal(new Set(keys).size, keys.length);
    } finally {
      server.close();
    }
    assert.ok(!(await client.ports()).some((p) => p.port === port && p.address === "127.0.0.1"));
  });

  it("runs a command: both streams and the exit code", async (t) => {
    const r = await run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual(r, { code: 3, out: "out\n", err: "err\n" });
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      assert.equal(await client.exec(["true"]), 0);
      times.push(performance.now() - t0);
    }
    t.diagnostic(`exec round trip (true): median ${median(times).toFixed(2)} ms over 20`);
  });

  it("takes cwd and env, and refuses a command that does not exist", async () => {
    const r = await run(["sh", "-c", 'pwd; echo "$FOO|$HOME"'], { cwd: dir, env: { FOO: "a b" } });
    assert.deepEqual(r, { code: 0, out: `${dir}\na b|/root\n`, err: "" });
    await assert.rejects(client.exec(["/no/such/cmd"]), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /cannot run \/no\/such\/cmd: No such file or directory/);
      return true;
    });
    await assert.rejects(client.exec(["true"], { cwd: "/no/such/dir" }), /cannot enter \/no\/such\/dir/);
  });

  it("runs two commands at once", async () => {
    const t0 = performance.now();
    const order: string[] = [];
    const track = (name: string, p: ReturnType<typeof run>) =>
      p.then((r) => {
        order.push(name);
        return r;
      });
    const slow = track("slow", run(["sh", "-c", "sleep 0.4; echo slow"]));
    const fast = track("fast", run(["sh", "-c", "echo fast; exit 4"]));
    const [a, b] = await Promise.all([slow, fast]);
    assert.deepEqual([a.out, b.out, b.code], ["slow\n", "fast\n", 4]);
    assert.deepEqual(order, ["fast", "slow"]);
    assert.ok(performance.now() - t0 < 2000);
  });

  it("feeds stdin, small and large", async () => {
    assert.deepEqual(await run(["cat"], { stdin: "hello\nworld\n" }), {
      code: 0,
      out: "hello\nworld\n",
      err: "",
    });
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    assert.equal((await run(["wc", "-c"], { stdin: big })).out.trim(), String(big.length));
    const cat = await run(["cat"], { stdin: big });
    assert.equal(cat.out.length, big.length);
  });

  it("an AbortSignal kills the command's process group (exit 143)", async () => {
    const ac = new AbortController();
    let pid = 0;
    const p = client.exec(["sh", "-c", "echo $$; exec sleep 60"], {
      signal: ac.signal,
      onStdout: (b) => {
        pid = Number(b.toString().trim());
        ac.abort();
      },
    });
    assert.equal(await p, 143);
    assert.ok(pid > 0 && !pidAlive(pid), `sleep (pid ${pid}) still runs`);
  });

  it("survives malformed lines and a dropped client (whose commands it kills)", async () => {
    let pid = 0;
    const orphan = client.exec(["sh", "-c", "echo $$; exec sleep 60"], {
      onStdout: (b) => (pid = Number(b.toString().trim())),
    });
    await waitFor("the command's pid", () => pid > 0);
    client.close();
    await assert.rejects(orphan, /closed/);
    await waitFor("the agent to kill the dropped client's command", () => !pidAlive(pid));

    const replies = await rawExchange(
      ["garbage\n", "5 bogus\n", "6 exec !! 0 x\n", "7 ping extra\n", " \n"],
      5,
    );
    assert.equal(replies.length, 5, replies.join("\n"));
    for (const [i, id] of ["0", "5", "6", "7", "0"].entries()) {
      assert.match(replies[i]!, new RegExp(`^${id} error [A-Za-z0-9+/=]+$`));
    }
    client = await AgentClient.connect({ driver: "qemu", agentSocket: socketPath });
    assert.equal(await client.ping(), "3");
    assert.equal(agent?.exitCode, null);
    assert.equal(agentStderr, `banger-agent: version 3 serving on ${socketPath}\n`, "only the start line");
  });

  it("sync answers ok", async () => {
    await client.sync();
    client.close(); // the agent serves one connection at a time
    assert.deepEqual(await rawExchange(["41 sync\n", "42 sync now\n"], 2), [
      "41 ok -",
      `42 error ${b64('unknown or malformed request "sync"')}`,
    ]);
    client = await AgentClient.connect({ driver: "qemu", agentSocket: socketPath });
  });

  // Every identity line here is refused before anything changes (this host is not a guest):
  // none has a clock, and the agent checks for the four required fields last.
  it("identity: each malformed field is refused by name, the key parsed and matched to its public line", async () => {
    const key = await sshKeys(dir);
    const h = `hostname=${b64("fork")}`;
    const cases: Array<[string, string]> = [
      ["", "identity: hostname is missing"],
      [`${h} machine-id=${"a".repeat(32)} entropy=${b64("x".repeat(32))}`, "identity: clock is missing"],
      [`hostname=${b64("-x")}`, "identity: bad hostname: 1 to 64 of a-z, A-Z, 0-9, '-', '.'"],
      [
        `${h} machine-id=${"A".repeat(32)}`,
        "identity: bad machine-id: 32 lowercase hex digits, not all zero",
      ],
      [`${h} clock=1765000000`, "identity: bad clock: the unix epoch in milliseconds"],
      [`${h} entropy=${b64("x".repeat(31))}`, "identity: bad entropy: base64 of 32 to 4096 bytes"],
      [`${h} mac=07:00:00:00:00:01`, "identity: bad mac: a unicast MAC like 06:00:0a:00:00:02"],
      [`${h} address=10.0.0.2`, "identity: bad address: an IPv4 address/prefix"],
      [`${h} address=10.0.0.2/24 mac=06:00:00:00:00:01`, "identity: address, gateway and mac go together"],
      [
        `address=10.0.0.2/24 gateway=10.0.1.1 mac=06:00:00:00:00:01`,
        "identity: bad gateway: not in the address's subnet",
      ],
      [`${h} ${h}`, "identity: hostname given twice"],
      [`colour=${b64("blue")}`, 'identity: unknown field "colour"'],
      [`ssh-key=${b64(key.a)}`, "identity: ssh-key and ssh-pub go together"],
      [
        `ssh-key=${b64("ssh-rsa AAAA")} ssh-pub=${b64(key.aPub)}`,
        "identity: bad ssh-key: not an OpenSSH private key",
      ],
      [`ssh-key=${b64(key.locked)} ssh-pub=${b64(key.aPub)}`, "identity: bad ssh-key: an encrypted key"],
      [`ssh-key=${b64(key.rsa)} ssh-pub=${b64(key.aPub)}`, "identity: bad ssh-key: not an ed25519 key"],
      [`ssh-key=${b64(key.a)} ssh-pub=${b64(key.bPub)}`, "identity: ssh-pub is not the key of ssh-key"],
      [`ssh-key=${b64(key.a)} ssh-pub=${b64("ssh-ed25519 !!")}`, "identity: bad ssh-pub: not one line"],
      [`ssh-key=${b64(key.a)} ssh-pub=${b64(key.aPub)}`, "identity: hostname is missing"],
    ];
    const lines = cases.map(([fields], i) => `${50 + i} identity${fields ? ` ${fields}` : ""}\n`);
    client.close();
    const replies = await rawExchange(lines, cases.length);
    client = await AgentClient.connect({ driver: "qemu", agentSocket: socketPath });
    for (const [i, [, message]] of cases.entries()) {
      const m = /^(\d+) error (\S+)$/.exec(replies[i] ?? "");
      assert.equal(m?.[1], String(50 + i), replies[i]);
      assert.ok(Buffer.from(m![2]!, "base64").toString().startsWith(message), `${message} <- ${replies[i]}`);
    }
  });
});
