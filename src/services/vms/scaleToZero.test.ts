import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Vm } from "../../model/vm.js";
import type { VmServiceDeps } from "./deps.js";
import { idleTimeoutOf, procNetConnections, ScaleToZero } from "./scaleToZero.js";
import type { VmSnapshots } from "./VmSnapshots.js";

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A455 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 011E1EAC:C350 021E1EAC:0016 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 011E1EAC:C352 031E1EAC:0016 06 00000000:00000000 00:00000000 00000000     0        0 3 1
`;

function vm(name: string, over: Partial<Vm> = {}): Vm {
  return {
    id: `${name}0000000000000`.slice(0, 16),
    name,
    state: "running",
    network: { ip: "172.30.30.2", mac: "06:00:00:00:00:02", tap: "t0" },
    startedAt: new Date(0),
    ...over,
  } as Vm;
}

function harness(vms: Vm[], opts: { cpu?: number | null; conns?: number; defaultMs?: number | null } = {}) {
  const suspended: string[] = [];
  const resumed: string[] = [];
  const store = {
    vms: {
      list: () => ({ items: vms, problems: [] }),
      find: (n: string) => vms.find((v) => v.name === n || v.id === n),
    },
  };
  const log = { info() {}, warn() {}, error() {} };
  const s = new ScaleToZero({
    deps: { store, log } as unknown as VmServiceDeps,
    snapshots: {
      suspend: async (name: string) => {
        suspended.push(name);
        return vms.find((v) => v.name === name)!;
      },
      resume: async (name: string) => {
        resumed.push(name);
        return vms.find((v) => v.name === name)!;
      },
    } as unknown as VmSnapshots,
    defaultMs: opts.defaultMs === undefined ? 60_000 : opts.defaultMs,
    cpuPercent: () => (opts.cpu === undefined ? 0.5 : opts.cpu),
    connections: async () => opts.conns ?? 0,
  });
  return { s, suspended, resumed };
}

describe("scale to zero", () => {
  it("counts only established connections to the address (/proc/net/tcp, little-endian hex)", async () => {
    assert.equal(await procNetConnections("172.30.30.2", TCP), 1);
    assert.equal(await procNetConnections("172.30.30.3", TCP), 0, "TIME_WAIT (06) is not a session");
    assert.equal(await procNetConnections("127.0.0.1", TCP), 0, "a local listener is not a peer");
  });

  it("a VM's own timeout wins over the config; 0 means never", () => {
    assert.equal(idleTimeoutOf(vm("a"), 900_000), 900_000);
    assert.equal(idleTimeoutOf(vm("a", { autoSuspendMs: 30_000 }), 900_000), 30_000);
    assert.equal(idleTimeoutOf(vm("a", { autoSuspendMs: 0 }), 900_000), null);
    assert.equal(idleTimeoutOf(vm("a"), null), null);
  });

  it("suspends a VM idle past its timeout, not one that is busy, young, a pool member or without a timeout", async () => {
    const now = 100_000;
    const idle = vm("idle");
    const young = vm("young", { startedAt: new Date(now - 10_000) });
    const pooled = vm("pooled", { pool: "k" });
    const never = vm("never", { autoSuspendMs: 0 });
    const stopped = vm("stopped", { state: "stopped" });
    const h = harness([idle, young, pooled, never, stopped]);
    assert.deepEqual(await h.s.tick(now), ["idle"]);
    assert.deepEqual(h.suspended, ["idle"]);

    const busyCpu = harness([vm("cpu")], { cpu: 40 });
    assert.deepEqual(await busyCpu.s.tick(now), [], "a VM using CPU is not idle");
    const ssh = harness([vm("ssh")], { conns: 1 });
    assert.deepEqual(await ssh.s.tick(now), [], "a VM with an open connection is not idle");
  });

  it("a call in flight keeps a VM awake, and its end restarts the idle clock", async () => {
    const v = vm("w");
    const h = harness([v]);
    let release: () => void = () => {};
    const call = h.s.track("w", () => new Promise<void>((r) => (release = r)));
    assert.deepEqual(await h.s.tick(1_000_000), []);
    release();
    await call;
    assert.deepEqual(await h.s.tick(Date.now() + 1000), [], "idle for 1 s only");
    assert.deepEqual(await h.s.tick(Date.now() + 61_000), ["w"]);
  });

  it("wake resumes only a VM that suspended itself, once for concurrent callers, and says so", async () => {
    const auto = vm("auto", { state: "suspended", saved: { auto: true } as Vm["saved"] });
    const manual = vm("manual", { state: "suspended", saved: {} as Vm["saved"] });
    const h = harness([auto, manual]);
    const said: string[] = [];
    const [a, b] = await Promise.all([
      h.s.wake("auto", (e) => e.kind === "progress" && said.push(e.message)),
      h.s.wake("auto"),
    ]);
    assert.ok(a && b);
    assert.deepEqual(h.resumed, ["auto"]);
    assert.match(said[0] ?? "", /^auto had suspended itself while idle; resumed in \d+ ms$/);
    assert.equal(await h.s.wake("manual"), false, "a VM the user suspended stays suspended");
    assert.equal(await h.s.wake("nosuch"), false);
  });
});
