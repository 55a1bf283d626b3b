/**
 * End to end, the warm pool: with `[pool] size = 1` the daemon boots one VM of
 * the default image and spec; a matching `vm create` claims it (renamed, its
 * own hostname, seen from inside the guest), the pool refills, and a create
 * that does not match boots as usual. Real test guest, QEMU/TCG, real CLI, in
 * a network namespace.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { PingResult } from "../../src/api/methods.js";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs } from "../helpers/nsSandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;

async function poolReady(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const s = await t.json<Partial<PingResult>>(["daemon", "status", "--json"]);
    if ((s.pool?.ready ?? 0) >= 1) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the warm pool never got a ready VM");
}

describe("warm pool: a matching create claims a ready VM; others boot", { skip }, () => {
  before(async () => {
    const guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgpool");
    const cfg = (size: number) =>
      [
        'vmm = "qemu"',
        'default_image_name = "tiny"',
        "[network]",
        "tap_pool_size = 1",
        "[pool]",
        `size = ${size}`,
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "256M"',
        'disk_size = "1G"',
        "",
      ].join("\n");
    t.sb.writeConfig(cfg(0));
    await t.ok(registerArgs("tiny", guest));
    await t.ok(["daemon", "stop"]);
    t.sb.writeConfig(cfg(1));
    await t.ok(["daemon", "start"]);
  });

  after(async () => {
    await t?.cleanup();
  });

  test("the pool fills; its member is listed only with --all; daemon status shows it", async () => {
    await poolReady();
    const plain = await t.json<VmListResult>(["vm", "list", "--json"]);
    assert.deepEqual(plain.vms, [], "pool members are not listed by default");
    const all = await t.json<VmListResult>(["vm", "list", "--all", "--json"]);
    assert.equal(all.vms.length, 1);
    assert.equal(all.vms[0]!.pool, true);
    assert.match(all.vms[0]!.name, /^pool-/);
    const st = await t.ok(["daemon", "status"]);
    assert.match(st.stdout, /warm pool\s+1 ready, 0 starting \(size 1\)/);
  });

  test("a matching create claims the ready VM: renamed, its own hostname inside", async () => {
    const member = (await t.json<VmListResult>(["vm", "list", "--all", "--json"])).vms[0]!;
    const t0 = Date.now();
    const r = await t.ok(["vm", "create", "--name", "claimed"]);
    process.stderr.write(`# pool-claimed create: ${Date.now() - t0} ms\n`);
    assert.match(r.stderr, /claimed a ready VM from the pool as claimed/);
    const v = await t.json<VmView>(["vm", "show", "claimed"]);
    assert.equal(v.id, member.id, "the pool member became the new VM");
    assert.equal(v.pool, undefined);
    const host = await t.ok(["vm", "exec", "claimed", "--", "hostname"]);
    assert.equal(host.stdout.trim(), "claimed");
    assert.equal((await t.ok(["vm", "ssh", "claimed", "--", "hostname"])).stdout.trim(), "claimed");
    await poolReady();
    const all = await t.json<VmListResult>(["vm", "list", "--all", "--json"]);
    assert.equal(all.vms.filter((x) => x.pool).length, 1, "the pool refilled");
  });

  test("a create that does not match the pool's spec boots as usual", async () => {
    const r = await t.ok(["vm", "create", "--name", "cold", "--memory", "384M"]);
    assert.doesNotMatch(r.stderr, /claimed a ready VM/);
    assert.match(r.stderr, /boot: spawn/);
    const v = await t.json<VmView>(["vm", "show", "cold"]);
    assert.equal(v.spec.memoryMib, 384);
  });
});
