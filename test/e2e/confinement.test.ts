/**
 * End to end, a root daemon (in a network namespace this test makes): its
 * QEMU runs as banger-vmm, never root, under QEMU's seccomp sandbox with no
 * capabilities and NoNewPrivs, inside the VM's own cgroup with memory, pids
 * and CPU limits; the guest still boots and answers; stop/start and a daemon
 * restart (adoption) keep working, and a stopped VM's cgroup is gone.
 * What the VMM is allowed is read from the VMM process itself (/proc), and
 * what its uid can reach is probed by running a process as that uid.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmView } from "../../src/api/vms.js";
import { processCgroupDir } from "../../src/helper/cgroupLayout.js";
import { lookupVmmUser } from "../../src/helper/context.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";
import { waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const vmmUser = lookupVmmUser();
const skip = e2eSkipReason() || (vmmUser ? false : "needs the banger-vmm user (scripts/test creates it)");
const MIB = 1024 * 1024;
let t: NsSandbox;
let guest: TestGuest;

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function mounts(): string {
  return readFileSync("/proc/self/mounts", "utf8");
}

/** The VMM's cgroup directory for a v1 controller, and one of its files. */
function cgFile(pid: number, ctrl: "memory" | "pids" | "cpu", file: string): { dir: string; value: string } {
  const dir = processCgroupDir(mounts(), readFileSync(`/proc/${pid}/cgroup`, "utf8"), ctrl);
  assert.ok(dir, `the VMM has a ${ctrl} cgroup`);
  return { dir, value: readFileSync(path.join(dir, file), "utf8").trim() };
}

/** Asserts everything the VMM of `name` must show; returns its pid and cgroup dirs. */
async function assertConfined(name: string): Promise<{ pid: number; dirs: string[] }> {
  const vm = await t.json<VmView>(["vm", "show", name]);
  assert.equal(vm.state, "running");
  const pid = vm.pid!;
  const st = status(pid);
  process.stderr.write(
    `# VMM ${pid}: Uid ${st.Uid}; Gid ${st.Gid}; Seccomp ${st.Seccomp}; NoNewPrivs ${st.NoNewPrivs}; CapEff ${st.CapEff}\n`,
  );
  assert.deepEqual(st.Uid?.split(/\s+/).map(Number), Array(4).fill(vmmUser!.uid), "runs as banger-vmm");
  assert.deepEqual(st.Gid?.split(/\s+/).map(Number), Array(4).fill(vmmUser!.gid));
  assert.equal(st.Seccomp, "2", "QEMU's seccomp filter is on");
  assert.equal(st.NoNewPrivs, "1");
  assert.equal(st.CapEff, "0000000000000000");
  assert.equal(st.CapPrm, "0000000000000000");
  const suffix = `/banger/u0/${vm.id}`;
  const mem = cgFile(pid, "memory", "memory.limit_in_bytes");
  const pids = cgFile(pid, "pids", "pids.max");
  const cpu = cgFile(pid, "cpu", "cpu.cfs_quota_us");
  for (const d of [mem.dir, pids.dir, cpu.dir]) assert.ok(d.endsWith(suffix), `${d} is the VM's cgroup`);
  process.stderr.write(
    `# cgroup ${mem.dir}: memory ${mem.value}, pids ${pids.value}, cfs quota ${cpu.value}\n`,
  );
  assert.equal(Number(mem.value), (vm.spec.memoryMib + 256 + 160) * MIB, "guest RAM + TCG buffer + overhead");
  assert.equal(pids.value, String(128 + 2 * vm.spec.vcpu));
  assert.equal(cpu.value, String(vm.spec.vcpu * 100_000));
  assert.equal(vm.cgroup?.version, 1);
  assert.ok(vm.cgroup?.path.endsWith(suffix));
  assert.equal(vm.cgroup?.memoryLimitBytes, Number(mem.value));
  assert.equal(vm.cgroup?.cpus, vm.spec.vcpu);
  const usage = Number(readFileSync(path.join(mem.dir, "memory.usage_in_bytes"), "utf8"));
  assert.ok(usage > 32 * MIB, `guest memory is charged to the VM's cgroup (${usage} bytes)`);
  return { pid, dirs: [mem.dir, pids.dir, cpu.dir] };
}

async function waitExec(name: string): Promise<string> {
  return until(`vm exec ${name}`, async () => {
    const r = await t.cli(["vm", "exec", name, "--", "cat", "/proc/sys/kernel/hostname"]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  });
}

describe("confined QEMU: banger-vmm, seccomp, no capabilities, a cgroup per VM", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgconf");
    const conf = ['vmm = "qemu"', "[network]", "tap_pool_size = 1", "[vm_defaults]", "vcpu = 1"];
    t.sb.writeConfig([...conf, 'memory = "256M"', 'disk_size = "1G"', ""].join("\n"));
    await t.ok(registerArgs("tiny", guest));
  });

  after(async () => {
    await t?.cleanup();
  });

  test("the VMM runs as banger-vmm with seccomp, NoNewPrivs, no capabilities, in its cgroup; the guest answers", async () => {
    await t.ok(["vm", "create", "--name", "c1", "--image", "tiny"]);
    assert.equal(await waitExec("c1"), "c1");
    const { pid } = await assertConfined("c1");
    const text = (await t.ok(["vm", "show", "c1"])).stdout;
    assert.match(text, /cgroup:\s+v1 \S+\/banger\/u0\/[0-9a-f]{16}: memory 672M, pids 130, cpu 1/);
    const stats = await until("vm stats", async () => {
      const s = await t.json<{ stats: Array<{ rssBytes: number | null }> }>(["vm", "stats", "c1"]);
      return s.stats[0]?.rssBytes ?? undefined;
    });
    assert.ok(stats > 32 * MIB, `vm stats memory from the cgroup: ${stats}`);
    // The VMM's uid cannot reach the VM's files by path: only the fds the daemon passed.
    const vm = await t.json<VmView>(["vm", "show", "c1"]);
    const probe = spawnSync(
      "setpriv",
      [`--reuid=${vmmUser!.uid}`, `--regid=${vmmUser!.gid}`, "--clear-groups", "cat", vm.paths.workDisk],
      { encoding: "utf8" },
    );
    process.stderr.write(
      `# probe as banger-vmm: cat ${vm.paths.workDisk} -> exit ${probe.status}: ${probe.stderr.trim()}\n`,
    );
    assert.equal(probe.status, 1);
    assert.match(probe.stderr, /Permission denied/);
    assert.ok(readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").includes("-sandbox"));
  });

  test("stop removes the cgroup; start confines the new VMM again", async () => {
    const { dirs } = await assertConfined("c1");
    await t.ok(["vm", "stop", "c1"]);
    for (const d of dirs) assert.ok(!existsSync(d), `${d} removed on stop`);
    await t.ok(["vm", "start", "c1"]);
    assert.equal(await waitExec("c1"), "c1");
    await assertConfined("c1");
  });

  test("kill -9 of the daemon: the confined VM is adopted, and stops cleanly afterwards", async () => {
    const before = await t.json<VmView>(["vm", "show", "c1"]);
    const daemon = t.sb.daemonPid();
    assert.ok(daemon);
    process.kill(daemon, "SIGKILL");
    assert.ok(await waitDead(daemon));
    const adopted = await t.json<VmView>(["vm", "show", "c1"]);
    assert.equal(adopted.state, "running");
    assert.equal(adopted.pid, before.pid);
    assert.equal(await waitExec("c1"), "c1");
    const { dirs } = await assertConfined("c1");
    await t.ok(["vm", "stop", "c1"]);
    for (const d of dirs) assert.ok(!existsSync(d), `${d} removed on stop after adoption`);
    // Gone, or a zombie its new parent (the container's init here) has not reaped yet.
    const stat = (() => {
      try {
        return readFileSync(`/proc/${before.pid}/stat`, "utf8");
      } catch {
        return "";
      }
    })();
    assert.ok(stat === "" || / Z /.test(stat.slice(stat.lastIndexOf(")"))), `the VMM is gone: ${stat}`);
  });
});
