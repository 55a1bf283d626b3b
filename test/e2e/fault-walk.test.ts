/**
 * End to end: the daemon is SIGKILLed (BANGER_FAULT) at every kill point of
 * create, start, boot, stop and delete, and the VMM is SIGKILLed after boot and
 * during stop. After each kill a daemon without the fault starts; the VM must
 * be whole (it starts and `vm exec -- true` answers) or wholly gone, and
 * nothing may leak: no VMM process, no TAP beyond the pool, no directory,
 * socket or cgroup of a VM that is not running, no row of an interrupted create.
 * One sandbox, one VM, the tiny test guest (QEMU, TCG here).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { cgroupLayout, vmCgroupDirs } from "../../src/helper/cgroupLayout.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { faultPoints } from "../../src/vmm/fault.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";
import { isAlive, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
const TAP_POOL = 1;
const VM = "w";
let t: NsSandbox;

type Outcome = "gone" | "running" | "stopped" | "suspended";
const CLONE = "wc";

async function vmRow(name = VM): Promise<VmView | undefined> {
  const l = await t.json<VmListResult>(["vm", "list"]);
  return l.vms.find((v) => v.name === name);
}

/** Kill the daemon (if one runs) so the next CLI call starts one with the environment we give. */
async function killDaemon(): Promise<void> {
  const pid = t.sb.daemonPid();
  if (pid && isAlive(pid)) {
    process.kill(pid, "SIGKILL");
    assert.ok(await waitDead(pid), "the daemon died");
  }
}

/** Run `args` with BANGER_FAULT=point in a fresh daemon; the daemon must have killed itself. */
async function runKilled(point: string, args: string[]): Promise<void> {
  await killDaemon();
  const r = await t.sb.cli(args, { env: { BANGER_FAULT: point } });
  const pid = t.sb.daemonPid();
  assert.ok(pid, `${point}: a daemon was started`);
  const died = !isAlive(pid) || (await waitDead(pid));
  assert.ok(died, `${point}: the daemon did not reach its kill point (exit ${r.code}: ${r.stderr})`);
  assert.notEqual(r.code, 0, `${point}: the operation reported success although the daemon died`);
}

function vmPids(): number[] {
  const daemon = t.sb.daemonPid();
  return t.processes().filter((p) => p !== daemon && isAlive(p));
}

function isLogWriter(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith("banger-logger\0");
  } catch {
    return false;
  }
}

/** The VM's VMM and log writer processes; a writer whose VMM just died gets a moment to finish. */
async function vmProcesses(want: number): Promise<{ vmms: number[]; writers: number[] }> {
  const split = () => {
    const all = vmPids();
    return { vmms: all.filter((p) => !isLogWriter(p)), writers: all.filter(isLogWriter) };
  };
  for (let i = 0; i < 20 && split().writers.length !== want; i++)
    await new Promise((r) => setTimeout(r, 100));
  return split();
}

function taps(): string[] {
  const all = JSON.parse(t.inNs("ip", ["-j", "tuntap", "show"]) || "[]") as Array<{ ifname: string }>;
  return all.map((x) => x.ifname);
}

function cgroupsLeft(id: string): string[] {
  const layout = cgroupLayout(
    readFileSync("/proc/self/mounts", "utf8"),
    readFileSync("/proc/self/cgroup", "utf8"),
  );
  if (!layout) return [];
  return [...new Set(Object.values(vmCgroupDirs(layout, process.getuid?.() ?? 0, id)))].filter((d) =>
    existsSync(d),
  );
}

/** After the kill and a clean restart: what is left is one whole VM or nothing (and a fork's clone, whole or gone), and nothing leaked. */
async function checkAfter(point: string): Promise<Outcome> {
  const row = await vmRow(); // starts a daemon without the fault: reconcile runs
  const clone = await vmRow(CLONE);
  const vmsDir = path.join(t.sb.stateDir, "vms");
  const dirs = existsSync(vmsDir) ? readdirSync(vmsDir) : [];
  const up = (v: VmView | undefined) => v?.state === "running" || v?.state === "paused";
  const vmmCount = (up(row) ? 1 : 0) + (up(clone) ? 1 : 0);
  const where = `${point}: ${JSON.stringify(row ?? null)} clone ${clone?.state}`;
  const { vmms, writers } = await vmProcesses(vmmCount);
  assert.equal(vmms.length, vmmCount, `${where}: VMM processes ${vmms.join(",")}`);
  assert.equal(writers.length, vmmCount, `${where}: log writer processes ${writers.join(",")}`);
  assert.ok(taps().length <= TAP_POOL + vmmCount, `${where}: TAPs ${taps().join(",")}`);
  const want = [row?.id, clone?.id].filter((x): x is string => !!x).sort();
  assert.deepEqual(dirs.sort(), want, `${where}: VM directories (a fork's template included)`);
  if (clone) assert.equal(clone.state, "running", `${where}: a clone is whole (running) or gone`);
  if (row && !up(row)) {
    assert.ok(["stopped", "crashed", "error", "suspended"].includes(row.state), `${where}: state`);
    const left = ["qmp.sock", "agent.sock", "qemu.pid"].filter((f) =>
      existsSync(path.join(row.paths.vmDir, f)),
    );
    assert.deepEqual(left, [], `${where}: stale sockets`);
    assert.deepEqual(cgroupsLeft(row.id), [], `${where}: cgroups`);
    const saved = ["state.bin", "memory.raw"].filter((f) => existsSync(path.join(row.paths.vmDir, f)));
    assert.deepEqual(
      saved,
      row.state === "suspended" ? ["state.bin", "memory.raw"] : [],
      `${where}: saved state`,
    );
  }
  if (!row) return "gone";
  return up(row) ? "running" : row.state === "suspended" ? "suspended" : "stopped";
}

/** Whole: it starts (if it is not running) and the agent runs a command. */
async function assertWhole(point: string, name = VM): Promise<void> {
  const row = await vmRow(name);
  assert.ok(row, `${point}: no VM ${name}`);
  if (row.state !== "running") await t.ok(["vm", "start", name]);
  await until(
    `${point}: vm exec answers in ${name}`,
    async () => {
      const r = await t.cli(["vm", "exec", name, "--", "true"]);
      return r.code === 0 ? true : undefined;
    },
    90_000,
  );
  if (name === VM && (await vmRow(CLONE))) {
    await assertWhole(point, CLONE);
    await t.ok(["vm", "delete", "-f", CLONE]);
  }
}

/** Bring the VM into the state the next operation needs. */
async function ensure(state: "absent" | "stopped" | "running"): Promise<void> {
  const row = await vmRow();
  if (state === "absent") {
    if (row) await t.ok(["vm", "delete", "-f", VM]);
    return;
  }
  if (!row) await t.ok(["vm", "create", "--name", VM, "--image", "tiny", "--no-start"]);
  const cur = (await vmRow())!;
  if (state === "stopped" && cur.state === "running") await t.ok(["vm", "stop", VM, "--timeout", "1"]);
  if (state === "running" && cur.state !== "running") await assertWhole("ensure running");
}

const timings: Array<[string, number]> = [];

async function walk(point: string, need: "absent" | "stopped" | "running", op: string[]): Promise<void> {
  const t0 = Date.now();
  await ensure(need);
  const id = (await vmRow())?.id;
  await runKilled(point, op);
  const outcome = await checkAfter(point);
  if (outcome !== "gone") await assertWhole(point);
  else if (id) assert.deepEqual(cgroupsLeft(id), [], `${point}: cgroups of the deleted VM`);
  timings.push([`${point} → ${outcome}`, Date.now() - t0]);
  process.stderr.write(`# ${point} → ${outcome} (${Date.now() - t0} ms)\n`);
}

describe("kill -9 at every step: each VM ends whole or wholly gone, nothing leaks", { skip }, () => {
  const t0 = Date.now();
  before(async () => {
    const guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgflt");
    t.sb.writeConfig(
      [
        'vmm = "qemu"',
        "[network]",
        `tap_pool_size = ${TAP_POOL}`,
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "256M"',
        'disk_size = "256M"',
        "",
      ].join("\n"),
    );
    await t.ok(registerArgs("tiny", guest));
  });

  after(async () => {
    for (const [p, ms] of timings) process.stderr.write(`# ${p}: ${ms} ms\n`);
    process.stderr.write(`# fault walk: ${timings.length} points in ${Date.now() - t0} ms\n`);
    await t?.cleanup();
  });

  test("every point has a name the daemon accepts; an unknown one is refused at start", async () => {
    await killDaemon();
    const r = await t.sb.cli(["vm", "list"], { env: { BANGER_FAULT: "create:nope:after" } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /BANGER_FAULT="create:nope:after" names no kill point/);
  });

  test("create: killed at each step, the VM is wholly gone (or, killed in its boot, whole)", async () => {
    for (const p of faultPoints(["create"])) {
      await walk(p, "absent", ["vm", "create", "--name", VM, "--image", "tiny", "--no-start"]);
    }
    // The case: killed inside the boot of `vm create`, with QEMU already spawned (paused).
    await walk("boot:spawn:after", "absent", ["vm", "create", "--name", VM, "--image", "tiny"]);
  });

  test("start and QEMU boot: killed at each step, the VM restarts whole; no stray QEMU", async () => {
    for (const p of faultPoints(["start", "boot"])) await walk(p, "stopped", ["vm", "start", VM]);
  });

  test("stop: killed at each step, the VM is running (adopted) or stopped, and restarts", async () => {
    for (const p of faultPoints(["stop"])) await walk(p, "running", ["vm", "stop", VM, "--timeout", "1"]);
  });

  test("delete: killed at each step, the VM is whole or wholly gone", async () => {
    // From a running VM where the VMM is the step's subject; from a stopped one elsewhere (no boot needed).
    for (const p of faultPoints(["delete"])) {
      await walk(p, p.startsWith("delete:vmm:") ? "running" : "stopped", ["vm", "delete", "-f", VM]);
    }
  });

  test("suspend: killed at each step, the VM runs on (adopted, maybe paused) or is suspended, and resumes whole", async () => {
    for (const p of faultPoints(["suspend"])) await walk(p, "running", ["vm", "suspend", VM]);
  });

  test("fork: killed at each step, the source is whole and the clone whole or wholly gone (its template too)", async () => {
    for (const p of faultPoints(["fork"])) await walk(p, "running", ["vm", "fork", VM, "--name", CLONE]);
  });

  test("the VMM killed after boot and during stop: crashed or stopped, restartable, nothing leaked", async () => {
    await ensure("running");
    const pid = (await vmRow())!.pid!;
    process.kill(pid, "SIGKILL");
    assert.ok(await waitDead(pid));
    const seen = await until("crash noticed", async () => {
      const r = await vmRow();
      return r && r.state !== "running" ? r.state : undefined;
    });
    assert.ok(["crashed", "stopped"].includes(seen), `state ${seen}`);
    assert.equal(await checkAfter("vmm-kill:after-boot"), "stopped");
    await assertWhole("vmm-kill:after-boot");

    // During stop: the VMM is frozen (so the graceful stop hangs), then killed while the VM is "stopping".
    const pid2 = (await vmRow())!.pid!;
    process.kill(pid2, "SIGSTOP");
    const stopping = t.cli(["vm", "stop", VM, "--timeout", "20"]);
    await until("stopping", async () => ((await vmRow())?.state === "stopping" ? true : undefined), 20_000);
    process.kill(pid2, "SIGKILL");
    const r = await stopping;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(["crashed", "stopped"].includes((await vmRow())!.state));
    assert.equal(await checkAfter("vmm-kill:during-stop"), "stopped");
    await assertWhole("vmm-kill:during-stop");
    const id = (await vmRow())!.id;
    await t.ok(["vm", "delete", "-f", VM]);
    assert.equal(await checkAfter("final delete"), "gone");
    assert.deepEqual(cgroupsLeft(id), [], "the deleted VM's cgroups are gone");
  });
});
