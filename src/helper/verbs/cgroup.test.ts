import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cgroupLayout, mountsToMirror, processCgroupDir, vmCgroupDirs } from "../cgroupLayout.js";
import type { HelperContext } from "../context.js";
import { handleLine } from "../main.js";
import { type CgroupEnv, cgroupVerbs, limitFiles } from "./cgroup.js";

const MOUNTS_V1 = [
  "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0",
  "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0",
  "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0",
  "cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0",
  "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
].join("\n");
const SELF_V1 = "8:pids:/\n4:memory:/process_api/c2c2\n2:cpu,cpuacct:/\n0::/\n";
const MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n";

const VM = "0123456789abcdef";
const LIMITS = { memoryBytes: 640 * 1024 ** 2, pids: 130, cpus: 2 };

/** An in-memory cgroupfs: dirs, files, and a /proc with a few processes. */
class FakeEnv implements CgroupEnv {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  readonly writes: Array<[string, string]> = [];
  procRoot = "/proc";
  constructor(
    private readonly mounts = MOUNTS_V1,
    private readonly self = SELF_V1,
  ) {}
  addProc(pid: number, uid: number, comm: string): void {
    this.files.set(`/proc/${pid}/status`, `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    this.files.set(`/proc/${pid}/comm`, `${comm}\n`);
  }
  async layout() {
    return cgroupLayout(this.mounts, this.self);
  }
  async read(f: string) {
    if (f.endsWith("/cgroup.procs")) return this.dirs.has(f.slice(0, -13)) ? (this.files.get(f) ?? "") : null;
    return this.files.get(f) ?? null;
  }
  async write(f: string, t: string) {
    this.writes.push([f, t]);
    this.files.set(f, f.endsWith("/cgroup.procs") ? `${this.files.get(f) ?? ""}${t}\n` : t);
  }
  async mkdirp(d: string) {
    this.dirs.add(d);
  }
  async rmdir(d: string) {
    return this.dirs.delete(d);
  }
}

const ctx = (uid = 1000, vmmUid = uid): HelperContext => ({
  uid,
  gid: uid,
  vmmUid,
  vmmGid: vmmUid,
  run: async () => ({ code: 0, stdout: "", stderr: "" }),
});

describe("cgroup layout", () => {
  it("v1: each controller's base is the helper's own cgroup in that hierarchy; co-mounted cpu,cpuacct share one", () => {
    const l = cgroupLayout(MOUNTS_V1, SELF_V1);
    assert.deepEqual(l, {
      version: 1,
      bases: {
        memory: "/sys/fs/cgroup/memory/process_api/c2c2",
        pids: "/sys/fs/cgroup/pids",
        cpu: "/sys/fs/cgroup/cpu,cpuacct",
        cpuacct: "/sys/fs/cgroup/cpu,cpuacct",
      },
    });
    assert.equal(
      vmCgroupDirs(l!, 1000, VM).memory,
      `/sys/fs/cgroup/memory/process_api/c2c2/banger/u1000/${VM}`,
    );
  });

  it("v2 (no v1 memory hierarchy): the unified root", () => {
    assert.deepEqual(cgroupLayout(MOUNTS_V2, "0::/user.slice/x\n"), {
      version: 2,
      bases: { unified: "/sys/fs/cgroup" },
    });
    assert.equal(cgroupLayout("proc /proc proc rw 0 0\n", ""), null);
  });

  it("a mount namespace without cgroup mounts (ip netns exec) repeats PID 1's, parent tmpfs first", () => {
    assert.deepEqual(mountsToMirror(MOUNTS_V1, "whatever"), []);
    const sysOnly = "sysfs /sys sysfs rw 0 0\n";
    const m = mountsToMirror(sysOnly, `proc /proc proc rw 0 0\n${MOUNTS_V1}`);
    assert.deepEqual(
      m.map((x) => `${x.type} ${x.dir} ${x.opts.at(-1)}`),
      [
        "tmpfs /sys/fs/cgroup mode=755",
        "cgroup /sys/fs/cgroup/cpu,cpuacct cpuacct",
        "cgroup /sys/fs/cgroup/memory memory",
        "cgroup /sys/fs/cgroup/pids pids",
        "cgroup2 /sys/fs/cgroup/unified relatime",
      ],
    );
    assert.deepEqual(mountsToMirror(sysOnly, null), []);
  });

  it("a process's cgroup directory per controller", () => {
    const pc = `4:memory:/process_api/c2c2/banger/u0/${VM}\n2:cpu,cpuacct:/banger/u0/${VM}\n0::/\n`;
    assert.equal(processCgroupDir(MOUNTS_V1, pc, "cpuacct"), `/sys/fs/cgroup/cpu,cpuacct/banger/u0/${VM}`);
    assert.equal(
      processCgroupDir(MOUNTS_V2, `0::/banger/u0/${VM}\n`, "unified"),
      `/sys/fs/cgroup/banger/u0/${VM}`,
    );
    assert.equal(processCgroupDir(MOUNTS_V1, pc, "pids"), null);
  });

  it("limit files: v1 memory/pids/cfs quota, v2 memory.max/pids.max/cpu.max", () => {
    assert.deepEqual(limitFiles(1, { memory: "/m", pids: "/p", cpu: "/c" }, LIMITS), [
      ["/m/memory.limit_in_bytes", String(640 * 1024 ** 2)],
      ["/p/pids.max", "130"],
      ["/c/cpu.cfs_period_us", "100000"],
      ["/c/cpu.cfs_quota_us", "200000"],
    ]);
    assert.deepEqual(limitFiles(2, { unified: "/u" }, LIMITS), [
      ["/u/memory.max", String(640 * 1024 ** 2)],
      ["/u/pids.max", "130"],
      ["/u/cpu.max", "200000 100000"],
    ]);
  });
});

describe("cgroup verbs", () => {
  it("create makes the caller's VM cgroup with its limits; attach moves a VMM in; remove deletes it", async () => {
    const env = new FakeEnv();
    const v = cgroupVerbs(env);
    const info = (await v["cgroup.create"](ctx(), { vm: VM, limits: LIMITS })) as {
      paths: Record<string, string>;
    };
    assert.equal(info.paths.pids, `/sys/fs/cgroup/pids/banger/u1000/${VM}`);
    assert.equal(env.files.get(`${info.paths.cpu}/cpu.cfs_quota_us`), "200000");
    assert.equal(env.files.get(`${info.paths.memory}/memory.limit_in_bytes`), String(LIMITS.memoryBytes));
    env.addProc(4242, 1000, "qemu-system-x86");
    await v["cgroup.attach"](ctx(), { vm: VM, pid: 4242 });
    assert.equal(env.files.get(`${info.paths.memory}/cgroup.procs`), "4242\n");
    env.files.set("/proc/4242/stat", "4242 (qemu-system-x86) S 1 2 3");
    await assert.rejects(v["cgroup.remove"](ctx(), { vm: VM }), /still holds running processes 4242/);
    env.files.delete(`${info.paths.memory}/cgroup.procs`);
    env.files.delete(`${info.paths.pids}/cgroup.procs`);
    env.files.delete(`${info.paths.cpu}/cgroup.procs`);
    await v["cgroup.remove"](ctx(), { vm: VM });
    assert.ok(![...env.dirs].some((d) => d.endsWith(VM)));
    await v["cgroup.remove"](ctx(), { vm: VM }); // already gone is fine
  });

  it("remove waits for an exited VMM (a zombie) to be reaped, then removes the cgroup", async () => {
    const env = new FakeEnv();
    const v = cgroupVerbs(env);
    const info = (await v["cgroup.create"](ctx(), { vm: VM, limits: LIMITS })) as {
      paths: Record<string, string>;
    };
    env.files.set(`${info.paths.memory}/cgroup.procs`, "77\n");
    env.files.set("/proc/77/stat", "77 (qemu-system-x86) Z 1 2 3");
    setTimeout(() => env.files.delete(`${info.paths.memory}/cgroup.procs`), 150);
    const t0 = Date.now();
    await v["cgroup.remove"](ctx(), { vm: VM });
    assert.ok(Date.now() - t0 >= 100);
    assert.ok(!env.dirs.has(info.paths.memory!));
  });

  it("v2: enables the controllers on every level above the VM's cgroup", async () => {
    const env = new FakeEnv(MOUNTS_V2, "0::/\n");
    await cgroupVerbs(env)["cgroup.create"](ctx(0, 999), { vm: VM, limits: LIMITS });
    const sub = env.writes.filter(([f]) => f.endsWith("cgroup.subtree_control")).map(([f]) => f);
    assert.deepEqual(sub, [
      "/sys/fs/cgroup/cgroup.subtree_control",
      "/sys/fs/cgroup/banger/cgroup.subtree_control",
      "/sys/fs/cgroup/banger/u0/cgroup.subtree_control",
    ]);
    assert.equal(env.files.get(`/sys/fs/cgroup/banger/u0/${VM}/cpu.max`), "200000 100000");
  });

  it("refuses bad VM ids and out-of-range limits, naming the field, and changes nothing", async () => {
    const env = new FakeEnv();
    const v = cgroupVerbs(env);
    const bad: Array<[unknown, RegExp]> = [
      [{ vm: "../../etc", limits: LIMITS }, /vm: .* is not a VM id/],
      [{ vm: "0123456789ABCDEF", limits: LIMITS }, /vm: /],
      [{ vm: `${VM}0`, limits: LIMITS }, /vm: /],
      [
        { vm: VM, limits: { ...LIMITS, memoryBytes: 1024 } },
        /limits\.memoryBytes: 1024 is not an integer between/,
      ],
      [{ vm: VM, limits: { ...LIMITS, memoryBytes: 2 ** 60 } }, /limits\.memoryBytes/],
      [{ vm: VM, limits: { ...LIMITS, pids: 0 } }, /limits\.pids: 0/],
      [{ vm: VM, limits: { ...LIMITS, cpus: 1.5 } }, /limits\.cpus: 1\.5/],
      [{ vm: VM, limits: { ...LIMITS, cpus: "2" } }, /limits\.cpus: "2"/],
      [{ vm: VM }, /limits\.memoryBytes: undefined/],
    ];
    for (const [args, re] of bad) await assert.rejects(v["cgroup.create"](ctx(), args), re);
    assert.equal(env.dirs.size, 0);
    assert.equal(env.writes.length, 0);
  });

  it("attach refuses another uid's process, a non-VMM process, a bad pid, and a VM without a cgroup", async () => {
    const env = new FakeEnv();
    const v = cgroupVerbs(env);
    env.addProc(100, 1000, "qemu-system-x86");
    await assert.rejects(
      v["cgroup.attach"](ctx(), { vm: VM, pid: 100 }),
      /has no cgroup at .*create it first/,
    );
    await v["cgroup.create"](ctx(), { vm: VM, limits: LIMITS });
    env.addProc(200, 0, "qemu-system-x86");
    env.addProc(300, 1000, "bash");
    env.addProc(400, 1001, "firecracker");
    await assert.rejects(
      v["cgroup.attach"](ctx(), { vm: VM, pid: 200 }),
      /runs as uid 0\/0\/0\/0, not as the VMM uid 1000/,
    );
    await assert.rejects(v["cgroup.attach"](ctx(), { vm: VM, pid: 300 }), /"bash"\) is not a VMM/);
    await assert.rejects(v["cgroup.attach"](ctx(), { vm: VM, pid: 400 }), /not as the VMM uid 1000/);
    await assert.rejects(v["cgroup.attach"](ctx(), { vm: VM, pid: 999 }), /no process 999/);
    for (const pid of [1, 0, -5, 2.5, "100", 10 ** 9]) {
      await assert.rejects(v["cgroup.attach"](ctx(), { vm: VM, pid }), /pid: .* is not a process id/);
    }
    // root's VMMs run as banger-vmm: a root caller may only attach banger-vmm's processes.
    env.addProc(500, 999, "qemu-system-x86");
    await v["cgroup.create"](ctx(0, 999), { vm: VM, limits: LIMITS });
    await assert.rejects(v["cgroup.attach"](ctx(0, 999), { vm: VM, pid: 200 }), /not as the VMM uid 999/);
    await assert.rejects(v["cgroup.attach"](ctx(0, -1), { vm: VM, pid: 500 }), /VMM uid -1/);
    assert.ok(!env.writes.some(([f]) => f.endsWith("cgroup.procs")), "nothing was moved");
  });

  it("the verbs are in the helper's table and answer over the line protocol", async () => {
    const res = await handleLine(
      ctx(),
      JSON.stringify({ id: 7, verb: "cgroup.remove", args: { vm: "x;rm -rf /" } }),
    );
    assert.equal(res.ok, false);
    assert.equal(!res.ok && res.error.code, "INVALID_ARGUMENT");
  });
});
