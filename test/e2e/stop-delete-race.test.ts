/**
 * End to end (reliability issue 12): `vm stop` and `vm delete -f` of the same
 * running VM at once, in three orders (together, stop first, delete first).
 * Delete wins; stop either succeeds or says the VM is gone (NOT_FOUND, naming
 * it); no VM is left in an error state and nothing leaks: no VMM process, VM
 * directory, lease, TAP beyond the pool or cgroup. The real test guest under
 * QEMU (TCG here), in a network namespace this test creates and deletes.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { cgroupLayout, vmCgroupDirs } from "../../src/helper/cgroupLayout.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, type NsSandbox, tinyGuestSandbox } from "../helpers/nsSandbox.js";
import { type CliResult, isAlive } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
const TAP_POOL = 1;

function taps(): string[] {
  const all = JSON.parse(t.inNs("ip", ["-j", "tuntap", "show"]) || "[]") as Array<{ ifname: string }>;
  return all.map((x) => x.ifname).sort();
}

function leases(): unknown[] {
  const db = new DatabaseSync(path.join(t.sb.stateDir, "banger.db"), { readOnly: true });
  try {
    return db.prepare("SELECT ip FROM leases").all();
  } finally {
    db.close();
  }
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Boot a VM, then race `vm stop` against `vm delete -f` with the given head start (ms) of stop over delete. */
async function race(
  name: string,
  stopLead: number,
): Promise<{ stop: CliResult; del: CliResult; vm: VmView }> {
  await t.ok(["vm", "create", "--name", name, "--no-wait"]);
  const vm = await t.json<VmView>(["vm", "show", name]);
  assert.equal(vm.state, "running");
  const stopArgs = ["vm", "stop", name, "--timeout", "3"];
  const delArgs = ["vm", "delete", "-f", name];
  const first = stopLead >= 0 ? t.cli(stopArgs) : t.cli(delArgs);
  await sleep(Math.abs(stopLead));
  const second = stopLead >= 0 ? t.cli(delArgs) : t.cli(stopArgs);
  const [a, b] = await Promise.all([first, second]);
  return stopLead >= 0 ? { stop: a, del: b, vm } : { stop: b, del: a, vm };
}

async function assertCleanEnd(name: string, r: { stop: CliResult; del: CliResult; vm: VmView }) {
  const both = `stop (${r.stop.code}): ${r.stop.stderr}\ndelete (${r.del.code}): ${r.del.stderr}`;
  process.stderr.write(`# ${name}: stop exit ${r.stop.code}, delete exit ${r.del.code}\n`);
  assert.equal(r.del.code, 0, `delete wins: ${both}`);
  if (r.stop.code !== 0) {
    assert.match(r.stop.stderr, /no VM|deleted/, `stop says the VM is gone: ${both}`);
    assert.ok(r.stop.stderr.includes(`"${name}"`), `stop's error names the VM: ${both}`);
    assert.doesNotMatch(r.stop.stderr, /INTERNAL|with id/, both);
  }
  const list = await t.json<VmListResult>(["vm", "list"]);
  assert.deepEqual(
    list.vms.map((v) => `${v.name}:${v.state}`),
    [],
    "no VM left, in no state",
  );
  assert.equal(isAlive(r.vm.pid!), false, "the VMM process is gone");
  const daemon = t.sb.daemonPid();
  assert.deepEqual(
    t.processes().filter((p) => p !== daemon && isAlive(p)),
    [],
    "no VMM process left",
  );
  const vmsDir = path.join(t.sb.stateDir, "vms");
  assert.deepEqual(existsSync(vmsDir) ? readdirSync(vmsDir) : [], [], "no VM directory");
  assert.deepEqual(leases(), [], "no lease");
  assert.ok(r.vm.tap, "it had a TAP");
  assert.ok(taps().length <= TAP_POOL, `its TAP went back; only the pool remains: ${taps().join(" ")}`);
  assert.deepEqual(cgroupsLeft(r.vm.id), [], "its cgroups are gone");
}

describe("vm stop and vm delete of one running VM at once: delete wins, nothing leaks", { skip }, () => {
  before(async () => {
    const guest = await ensureTestGuest({ runner });
    t = await tinyGuestSandbox("bgrace", guest);
    t.sb.writeConfig(
      [
        'vmm = "qemu"',
        'default_image_name = "tiny"',
        "[network]",
        `tap_pool_size = ${TAP_POOL}`,
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "256M"',
        'disk_size = "256M"',
        "",
      ].join("\n"),
    );
    await t.ok(["daemon", "stop"]); // the next command starts a daemon with this config
  });

  after(async () => {
    await t?.cleanup();
  });

  test("started together", async () => {
    await assertCleanEnd("r1", await race("r1", 0));
  });

  test("stop first, delete while it stops", async () => {
    await assertCleanEnd("r2", await race("r2", 300));
  });

  test("delete first, stop while it deletes", async () => {
    await assertCleanEnd("r3", await race("r3", -50));
  });
});
