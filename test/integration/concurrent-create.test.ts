/**
 * Concurrency (reliability issue 12): 20 `vm create` CLIs started at once,
 * the first of them also racing to start the daemon, must give 20 VMs with
 * distinct generated names, IPs, MACs, vsock CIDs and directories; 20
 * concurrent deletes then leave nothing (no row, lease, directory).
 * `vm create --no-start` allocates everything but the TAP (taken at start;
 * the boot-time race is the e2e vm-lifecycle test's), so no guest boots. The
 * daemon runs in a network namespace this test creates and deletes.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { MIN_GUEST_CID } from "../../src/model/vm.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { NsSandbox, registerArgs, tinyConfig } from "../helpers/nsSandbox.js";
import { isAlive, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = process.getuid?.() !== 0 ? "needs root (network namespaces)" : false;
const N = 20;
let t: NsSandbox;

function leases(): Array<{ vm_id: string; ip: string }> {
  const db = new DatabaseSync(path.join(t.sb.stateDir, "banger.db"), { readOnly: true });
  try {
    return db.prepare("SELECT vm_id, ip FROM leases").all() as Array<{ vm_id: string; ip: string }>;
  } finally {
    db.close();
  }
}

function distinct<T>(what: string, xs: T[]): void {
  assert.equal(new Set(xs).size, xs.length, `distinct ${what}: ${xs.join(" ")}`);
}

describe(`${N} concurrent creates, then ${N} concurrent deletes`, { skip }, () => {
  before(async () => {
    const guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgcc");
    t.sb.writeConfig(tinyConfig({ defaultImage: "tiny" }));
    await t.ok(registerArgs("tiny", guest));
    // No daemon yet: the creates below also race to start it.
    await t.ok(["daemon", "stop"]);
    const pid = t.sb.daemonPid();
    if (pid && isAlive(pid)) assert.ok(await waitDead(pid));
  });

  after(async () => {
    await t?.cleanup();
  });

  test("each create gets its own name, IP, MAC, CID and directory", async () => {
    const rs = await Promise.all(
      Array.from({ length: N }, () => t.cli(["vm", "create", "--no-start", "--json"])),
    );
    for (const r of rs) assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
    const vms = rs.map((r) => JSON.parse(r.stdout) as VmView);
    distinct(
      "names",
      vms.map((v) => v.name),
    );
    distinct(
      "IPs",
      vms.map((v) => v.ip),
    );
    distinct(
      "MACs",
      vms.map((v) => v.mac),
    );
    distinct(
      "CIDs",
      vms.map((v) => v.cid),
    );
    distinct(
      "directories",
      vms.map((v) => v.paths.vmDir),
    );
    for (const v of vms) {
      assert.equal(v.state, "stopped", v.name);
      assert.ok(v.cid >= MIN_GUEST_CID, `${v.name}: cid ${v.cid}`);
      assert.ok(v.ip, v.name);
      assert.equal(v.tap, null, `${v.name} takes no TAP before it starts`);
      assert.ok(existsSync(v.paths.vmDir), v.paths.vmDir);
    }
    const listed = await t.json<VmListResult>(["vm", "list"]);
    assert.deepEqual(listed.vms.map((v) => v.name).sort(), vms.map((v) => v.name).sort());
    const l = leases();
    assert.equal(l.length, N, "one lease per VM");
    assert.deepEqual(l.map((x) => x.ip).sort(), vms.map((v) => v.ip).sort());
  });

  test("concurrent deletes of all of them leave no row, lease or directory", async () => {
    const listed = await t.json<VmListResult>(["vm", "list"]);
    assert.equal(listed.vms.length, N);
    const rs = await Promise.all(listed.vms.map((v) => t.cli(["vm", "delete", v.name])));
    for (const r of rs) assert.equal(r.code, 0, `${r.stderr}${r.stdout}`);
    assert.deepEqual((await t.json<VmListResult>(["vm", "list"])).vms, []);
    assert.deepEqual(leases(), []);
    const vmsDir = path.join(t.sb.stateDir, "vms");
    assert.deepEqual(existsSync(vmsDir) ? readdirSync(vmsDir) : [], []);
  });
});
