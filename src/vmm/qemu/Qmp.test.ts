import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { QmpClient, type QmpEvent } from "./Qmp.js";

interface Cmd {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

type Reply = (cmd: Cmd, send: (msg: unknown) => void, sock: net.Socket) => void;

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "fake" }, capabilities: ["oob"] },
};

/** A fake QMP server: greeting (unless disabled), then `reply` decides what each command gets. */
async function fakeQmp(
  socketPath: string,
  reply: Reply,
  opts: { greet?: boolean } = {},
): Promise<{ server: net.Server; received: Cmd[]; close: () => Promise<void> }> {
  const received: Cmd[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => undefined);
    const send = (msg: unknown) => sock.write(`${JSON.stringify(msg)}\r\n`);
    if (opts.greet !== false) send(GREETING);
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const cmd = JSON.parse(buf.slice(0, nl)) as Cmd;
        buf = buf.slice(nl + 1);
        received.push(cmd);
        if (cmd.execute === "qmp_capabilities") send({ return: {}, id: cmd.id });
        else reply(cmd, send, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { server, received, close };
}

describe("QmpClient", () => {
  let dir: string;
  let n = 0;
  const sock = () => path.join(dir, `qmp${n++}.sock`);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-qmp-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the greeting, negotiates capabilities, matches replies by id", async () => {
    const p = sock();
    const pending: Array<() => void> = [];
    const srv = await fakeQmp(p, (cmd, send) => {
      // Answer query-status only after query-version, to prove replies are matched by id, not order.
      if (cmd.execute === "query-status")
        pending.push(() => send({ return: { status: "running", running: true }, id: cmd.id }));
      if (cmd.execute === "query-version") {
        send({ return: { qemu: { major: 7 } }, id: "not-ours" });
        send({ return: { qemu: { major: 7 } }, id: cmd.id });
        for (const f of pending) f();
      }
    });
    const c = await QmpClient.connect(p);
    try {
      assert.equal(c.greeting.QMP.version?.qemu?.major, 7);
      assert.equal(srv.received[0]?.execute, "qmp_capabilities");
      const status = c.execute<{ status: string }>("query-status");
      const version = c.execute<{ qemu: { major: number } }>("query-version");
      assert.deepEqual(await version, { qemu: { major: 7 } });
      assert.deepEqual(await status, { status: "running", running: true });
      const ids = srv.received.map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, "every command has its own id");
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("sends arguments", async () => {
    const p = sock();
    const srv = await fakeQmp(p, (cmd, send) => send({ return: cmd.arguments, id: cmd.id }));
    const c = await QmpClient.connect(p);
    try {
      assert.deepEqual(await c.execute("human-monitor-command", { "command-line": "info status" }), {
        "command-line": "info status",
      });
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("surfaces an error reply as a BangerError with QMP's desc", async () => {
    const p = sock();
    const srv = await fakeQmp(p, (cmd, send) =>
      send({ error: { class: "CommandNotFound", desc: "The command nope has not been found" }, id: cmd.id }),
    );
    const c = await QmpClient.connect(p);
    try {
      await assert.rejects(c.execute("nope"), (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "VMM");
        assert.match(e.message, /nope failed: The command nope has not been found/);
        assert.deepEqual(e.details, {
          qmpClass: "CommandNotFound",
          desc: "The command nope has not been found",
        });
        return true;
      });
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("passes interleaved events to listeners and still resolves the command", async () => {
    const p = sock();
    const srv = await fakeQmp(p, (cmd, send) => {
      const ts = { seconds: 1, microseconds: 2 };
      send({ event: "POWERDOWN", timestamp: ts });
      send({ event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" }, timestamp: ts });
      send({ return: {}, id: cmd.id });
    });
    const c = await QmpClient.connect(p);
    try {
      const seen: QmpEvent[] = [];
      const off = c.onEvent((ev) => seen.push(ev));
      const shutdown = c.waitForEvent("SHUTDOWN", 2000);
      assert.deepEqual(await c.execute("system_powerdown"), {});
      assert.deepEqual((await shutdown).data, { guest: true, reason: "guest-shutdown" });
      assert.deepEqual(
        seen.map((e) => e.event),
        ["POWERDOWN", "SHUTDOWN"],
      );
      off();
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("rejects a pending command when the server closes early", async () => {
    const p = sock();
    const srv = await fakeQmp(p, (_cmd, _send, s) => s.destroy());
    const c = await QmpClient.connect(p);
    try {
      await assert.rejects(c.execute("query-status"), (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.match(e.message, /query-status got no reply/);
        return true;
      });
      assert.equal(c.closed, true);
      await assert.rejects(c.execute("query-status"), /closed/);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("connect fails when the server closes before the greeting", async () => {
    const p = sock();
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(p, r));
    try {
      await assert.rejects(QmpClient.connect(p, { timeoutMs: 2000 }), /no QMP greeting/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("times out when there is no greeting, and when a command gets no reply", async () => {
    const p = sock();
    const mute = await fakeQmp(p, () => undefined, { greet: false });
    await assert.rejects(QmpClient.connect(p, { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "TIMEOUT");
      return true;
    });
    await mute.close();

    const p2 = sock();
    const silent = await fakeQmp(p2, () => undefined);
    const c = await QmpClient.connect(p2);
    try {
      await assert.rejects(c.execute("query-status", undefined, { timeoutMs: 100 }), (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "TIMEOUT");
        return true;
      });
    } finally {
      c.close();
      await silent.close();
    }
  });

  it("a missing socket fails after the deadline", async () => {
    const t0 = Date.now();
    await assert.rejects(
      QmpClient.connect(path.join(dir, "missing.sock"), { timeoutMs: 300 }),
      (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.match(e.message, /could not connect to the QMP socket/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 >= 200);
  });

  it("closes the connection on a line that is not JSON", async () => {
    const p = sock();
    const srv = await fakeQmp(p, (_cmd, _send, s) => s.write("garbage\r\n"));
    const c = await QmpClient.connect(p);
    try {
      await assert.rejects(c.execute("query-status"), /not JSON/);
    } finally {
      c.close();
      await srv.close();
    }
  });
});
