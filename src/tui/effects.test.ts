import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MethodName } from "../api/methods.js";
import type { RpcEvent } from "../api/protocol.js";
import type { Paths } from "../config/paths.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { waitFor } from "../util/poll.js";
import { backoffMs, type RpcLike, Session } from "./effects.js";
import type { Action } from "./state.js";
import { stopped, vm } from "./testFixtures.js";

type Handler = (params: unknown, emit: (e: RpcEvent) => void) => unknown | Promise<unknown>;

/** A daemon in memory: its handlers, the clients connected to it, and a kill switch. */
class FakeDaemon {
  handlers = new Map<string, Handler>();
  clients = new Set<FakeClient>();
  calls: string[] = [];
  up = true;

  constructor() {
    const never = () => new Promise(() => undefined);
    this.handlers.set("events.watch", never);
    this.handlers.set("vm.list", () => ({ vms: [vm("web")], problems: [] }));
    this.handlers.set("vm.show", (p) => {
      const name = (p as { name: string }).name;
      if (name === "gone") throw new BangerError(ErrorCodes.NOT_FOUND, "no VM gone");
      return vm(name);
    });
    this.handlers.set("image.list", () => ({ images: [] }));
    this.handlers.set("doctor", () => ({
      ranIn: "daemon",
      ok: true,
      checks: [
        {
          id: "vm-defaults",
          title: "",
          status: "pass",
          detail: "vcpu 1 (config) · memory 512 MiB (config) · disk 1G (config)",
        },
      ],
    }));
  }

  /** Everything watching gets this change event. */
  change(topic: "vm" | "vm-deleted" | "stats", name: string): void {
    for (const c of this.clients) for (const w of c.watchers) w({ kind: "change", topic, name });
  }

  kill(): void {
    this.up = false;
    for (const c of [...this.clients]) c.close();
  }
}

class FakeClient implements RpcLike {
  watchers: Array<(e: RpcEvent) => void> = [];
  private pending = new Set<(e: Error) => void>();
  closed = false;

  constructor(private readonly d: FakeDaemon) {
    d.clients.add(this);
  }

  call<M extends MethodName>(
    method: M,
    params: unknown,
    opts: { onEvent?: (e: RpcEvent) => void } = {},
  ): Promise<never> {
    this.d.calls.push(method);
    if (this.closed) return Promise.reject(new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "closed"));
    const h = this.d.handlers.get(method);
    if (!h) return Promise.reject(new BangerError(ErrorCodes.UNKNOWN_METHOD, `unknown method "${method}"`));
    const emit = opts.onEvent ?? (() => undefined);
    if (method === "events.watch") this.watchers.push(emit);
    return new Promise((resolve, reject) => {
      this.pending.add(reject);
      Promise.resolve()
        .then(() => h(params, emit))
        .then(resolve as (v: unknown) => void, reject)
        .finally(() => this.pending.delete(reject));
    });
  }

  close(): void {
    this.closed = true;
    this.d.clients.delete(this);
    for (const r of this.pending)
      r(new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "the daemon closed the connection"));
  }
}

const paths = { socket: "/nonexistent/bangerd.sock" } as Paths;

function setup(d = new FakeDaemon()) {
  const actions: Action[] = [];
  const session = new Session(
    paths,
    (a) => actions.push(a),
    {
      ensure: async () => {
        if (!d.up) throw new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "cannot connect");
        return { client: new FakeClient(d) };
      },
      connect: async () => new FakeClient(d),
      ssh: async () => 0,
    },
    { pollMs: 20, backoff: () => 10 },
  );
  return { d, actions, session, types: () => actions.map((a) => a.type) };
}

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  await waitFor(cond, { timeoutMs: ms, intervalMs: 5, what });
}

describe("Session", () => {
  it("subscribes to events.watch, loads everything, and turns change events into list updates", async () => {
    const { d, actions, session, types } = setup();
    session.start();
    await until(() => types().includes("conn-up"), "conn-up");
    assert.deepEqual(
      actions.find((a) => a.type === "conn-up"),
      { type: "conn-up", watch: "events" },
    );
    assert.ok(types().includes("vms-loaded"));
    await until(() => types().includes("defaults"), "defaults");
    assert.deepEqual(
      actions.find((a) => a.type === "defaults"),
      {
        type: "defaults",
        defaults: { vcpu: 1, memoryMib: 512, diskSizeBytes: 1024 ** 3 },
      },
    );
    await until(() => types().includes("unsupported"), "unknown methods noted");
    d.change("vm", "api");
    d.change("vm", "gone");
    d.change("vm-deleted", "old");
    await until(() => types().filter((t) => t === "vm-removed").length === 2, "removals");
    assert.ok(actions.some((a) => a.type === "vm-upsert" && a.vm.name === "api"));
    assert.ok(
      actions.some((a) => a.type === "vm-removed" && a.name === "gone"),
      "vm.show NOT_FOUND removes it",
    );
    const lists = d.calls.filter((c) => c === "vm.list").length;
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(d.calls.filter((c) => c === "vm.list").length, lists, "no polling while events flow");
    session.stop();
  });

  it("falls back to polling vm.list when the daemon has no events.watch", async () => {
    const d = new FakeDaemon();
    d.handlers.delete("events.watch");
    const { actions, session } = setup(d);
    session.start();
    await until(() => d.calls.filter((c) => c === "vm.list").length >= 3, "polls");
    assert.deepEqual(
      actions.find((a) => a.type === "conn-up"),
      { type: "conn-up", watch: "polling" },
    );
    d.kill();
    await until(() => actions.some((a) => a.type === "conn-down"), "a failed poll notices the loss");
    d.up = true;
    await until(() => actions.filter((a) => a.type === "conn-up").length === 2, "reconnected");
    session.stop();
    const n = d.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(d.calls.length, n, "stop ends the polling");
  });

  it("survives a daemon restart: reconnecting with backoff, then resubscribed and refreshed", async () => {
    const { d, actions, session, types } = setup();
    session.start();
    await until(() => types().includes("conn-up"), "conn-up");
    d.kill();
    await until(() => types().filter((t) => t === "conn-down").length >= 2, "two failed attempts");
    const down = actions.find((a) => a.type === "conn-down");
    assert.equal(down?.type === "conn-down" && down.reason, "the daemon closed the connection");
    d.handlers.set("vm.list", () => ({ vms: [stopped("web")], problems: [] }));
    d.up = true;
    await until(() => types().filter((t) => t === "conn-up").length === 2, "reconnected");
    const last = actions.filter((a) => a.type === "vms-loaded").at(-1);
    assert.equal(last?.type === "vms-loaded" && last.vms[0]?.state, "stopped", "the list is reloaded");
    assert.equal(d.calls.filter((c) => c === "events.watch").length, 2, "subscribed again");
    session.stop();
  });

  it("runs operations with their progress, and reports failures with the hint", async () => {
    const { d, actions, session, types } = setup();
    d.handlers.set("vm.start", (_p, emit) => {
      emit({ kind: "progress", stage: "boot:spawn", message: "boot: spawn", phase: "start" });
      return vm("web");
    });
    d.handlers.set("vm.stop", () => {
      throw new BangerError(ErrorCodes.CONFLICT, "web is busy", { hint: "wait for it" });
    });
    session.start();
    await until(() => types().includes("conn-up"), "conn-up");
    session.run({ id: 7, kind: "vm-op", op: "start", name: "web" });
    session.run({ id: 8, kind: "vm-op", op: "stop", name: "web" });
    await until(() => types().includes("op-done") && types().includes("op-failed"), "results");
    assert.ok(actions.some((a) => a.type === "op-progress" && a.id === 7 && a.event.stage === "boot:spawn"));
    assert.deepEqual(
      actions.find((a) => a.type === "op-failed"),
      {
        type: "op-failed",
        id: 8,
        error: { code: "CONFLICT", message: "web is busy", hint: "wait for it" },
      },
    );
    session.stop();
  });

  it("streams logs on a connection of their own, closed when the view closes", async () => {
    const { d, actions, session, types } = setup();
    d.handlers.set("vm.logs", (_p, emit) => {
      emit({ kind: "log", data: "hello\n" });
      return new Promise(() => undefined);
    });
    session.start();
    await until(() => types().includes("conn-up"), "conn-up");
    const before = d.clients.size;
    session.run({ id: 3, kind: "logs-open", streamId: 3, name: "web", source: "console" });
    await until(() => types().includes("log-data"), "log data");
    assert.deepEqual(
      actions.find((a) => a.type === "log-data"),
      { type: "log-data", streamId: 3, data: "hello\n" },
    );
    assert.equal(d.clients.size, before + 1);
    session.run({ id: 4, kind: "logs-close", streamId: 3 });
    assert.equal(d.clients.size, before);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(!types().includes("log-end"), "closing it ourselves is not an error");
    session.stop();
  });

  it("ssh hands over with the VM's ssh info and comes back with the VM as it is now", async () => {
    const { d, session, types } = setup();
    const seen: unknown[] = [];
    d.handlers.set("vm.sshInfo", () => ({ name: "web", ip: "172.16.0.2", user: "root" }));
    (session as unknown as { deps: { ssh: (i: unknown) => Promise<number> } }).deps.ssh = async (info) => {
      seen.push(info);
      return 0;
    };
    session.start();
    await until(() => types().includes("conn-up"), "conn-up");
    const a = await session.ssh("web");
    assert.deepEqual(seen, [{ name: "web", ip: "172.16.0.2", user: "root" }]);
    assert.equal(a.type === "ssh-returned" && a.vm?.name, "web");
    d.handlers.delete("vm.sshInfo");
    const failed = await session.ssh("web");
    assert.equal(failed.type === "ssh-returned" && failed.error?.code, "UNKNOWN_METHOD");
    session.stop();
  });

  it("backs off 0.5 s, 1 s, 2 s... up to 10 s", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map(backoffMs), [500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});
