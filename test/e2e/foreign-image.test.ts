/**
 * End to end: an image banger did not build — the test guest with banger's
 * agent removed (binary and inittab line), dropbear kept — registered and run
 * through create, start, ssh, exec, stop and delete. Readiness is SSH: no
 * call waits for an agent that will never come, and what needs the agent
 * fails at once saying what to use. QEMU (TCG here) in a namespace this test
 * creates and deletes.
 */
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { HealthReport } from "../../src/api/agent.js";
import type { ImageView, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, tinyConfig } from "../helpers/nsSandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;

const INITTAB_NO_AGENT = `::sysinit:/etc/init.d/rcS
::respawn:/usr/sbin/banger-sshd
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
`;

/** A copy of the test guest's rootfs without banger's agent: the binary gone, init no longer starts it. */
async function rootfsWithoutAgent(dir: string): Promise<string> {
  const rootfs = path.join(dir, "foreign-rootfs.ext4");
  copyFileSync(guest.rootfs, rootfs);
  const inittab = path.join(dir, "inittab");
  writeFileSync(inittab, INITTAB_NO_AGENT, { mode: 0o644 });
  const script = [
    "rm /usr/sbin/banger-agent",
    "rm /etc/inittab",
    `write ${inittab} /etc/inittab`,
    "sif /etc/inittab uid 0",
    "sif /etc/inittab gid 0",
    "",
  ].join("\n");
  const r = await runner.run(["debugfs", "-w", "-f", "-", rootfs], { input: script });
  const errors = r.stderr.split("\n").filter((l) => l.trim() && !l.startsWith("debugfs "));
  assert.deepEqual(errors, [], "debugfs edited the copy cleanly");
  return rootfs;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - t0 };
}

describe("an image banger did not build (no agent, with sshd) through the whole lifecycle", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgfor");
    t.sb.writeConfig(tinyConfig({ extra: ["[network]", "tap_pool_size = 1"] }));
  });

  after(async () => {
    await t?.cleanup();
  });

  test("register records what the image provides: no agent, an sshd, readiness by SSH", async () => {
    const rootfs = await rootfsWithoutAgent(t.sb.dir);
    const img = await t.json<ImageView>(registerArgs("foreign", { ...guest, rootfs }));
    assert.deepEqual(img.capabilities, { agent: false, sshd: true });
    assert.equal(img.readiness, "ssh");
    const show = await t.ok(["image", "show", "foreign"]);
    assert.match(show.stdout, /guest:\s+agent no · sshd yes · ready when sshd answers on port 22/);
    // the unmodified test guest is recognised as having the agent
    const own = await t.json<ImageView>(registerArgs("tiny", guest));
    assert.deepEqual(own.capabilities, { agent: true, sshd: true });
    assert.equal(own.readiness, "agent");
    await t.ok(["image", "delete", "tiny"]);
  });

  test("create waits for SSH (not the agent) and returns ready; ssh works", async () => {
    const c = await timed(() =>
      t.json<VmView>(["vm", "create", "--name", "fx", "--image", "foreign", "--wait", "240"]),
    );
    assert.equal(c.value.state, "running");
    assert.equal(c.value.image.readiness, "ssh");
    const h = await t.json<HealthReport>(["vm", "health", "fx"]);
    assert.equal(h.status, "healthy", h.reason);
    assert.equal(h.via, "ssh");
    assert.match(h.reason, /sshd answered on port 22 \(SSH-2\.0-/);
    const ssh = await t.cli(["vm", "ssh", "fx", "--", "cat", "/etc/banger-guest"]);
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.match(ssh.stdout, /banger test guest/);
    const agentGone = await t.cli(["vm", "ssh", "fx", "--", "test", "!", "-e", "/usr/sbin/banger-agent"]);
    assert.equal(agentGone.code, 0, "the guest really has no agent");
    const text = await t.ok(["vm", "show", "fx"]);
    assert.match(text.stdout, /guest:\s+agent no · sshd yes · ready when sshd answers on port 22/);
    console.log(`# create of the agent-less image returned ready in ${c.ms} ms`);
  });

  test("what needs the agent fails at once, saying what to use instead", async () => {
    for (const args of [
      ["vm", "exec", "fx", "--", "true"],
      ["vm", "ports", "fx"],
    ]) {
      const r = await timed(() => t.cli(args));
      assert.equal(r.value.code, 1, r.value.stderr);
      assert.match(r.value.stderr, /needs banger's guest agent, and VM "fx"'s image "foreign" has none/);
      assert.match(r.value.stderr, /banger vm ssh fx -- CMD/);
      assert.ok(r.ms < 15_000, `${args.join(" ")} answered in ${r.ms} ms, not after a wait`);
    }
  });

  test("stop; health of a stopped VM exits non-zero; start waits for SSH again; delete leaves nothing", async () => {
    const s = await t.json<VmView>(["vm", "stop", "fx"]);
    assert.equal(s.state, "stopped");
    const h = await t.cli(["vm", "health", "fx", "--json"]);
    assert.equal(h.code, 1);
    assert.equal((JSON.parse(h.stdout) as HealthReport).status, "stopped");
    const st = await timed(() => t.json<VmView>(["vm", "start", "fx", "--wait", "240"]));
    assert.equal(st.value.state, "running");
    assert.equal((await t.json<HealthReport>(["vm", "health", "fx"])).via, "ssh");
    console.log(`# start of the agent-less image returned ready in ${st.ms} ms`);
    await t.ok(["vm", "stop", "fx"]);
    await t.ok(["vm", "delete", "fx"]);
    const list = await t.json<{ vms: VmView[] }>(["vm", "list"]);
    assert.deepEqual(list.vms, []);
  });

  test("vm run --json runs the command over SSH and prints the VM and its result as JSON", async () => {
    const r = await t.cli([
      "vm",
      "run",
      "--image",
      "foreign",
      "--rm",
      "--json",
      "--wait",
      "240",
      "--",
      "uname",
      "-r",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      vm: VmView;
      command: { argv: string[]; exitCode: number; stdout: string; stderr: string };
    };
    assert.equal(out.vm.image.name, "foreign");
    assert.deepEqual(out.command.argv, ["uname", "-r"]);
    assert.equal(out.command.exitCode, 0);
    assert.equal(out.command.stdout.trim(), guest.kernelVersion);
    const list = await t.json<{ vms: VmView[] }>(["vm", "list"]);
    assert.deepEqual(list.vms, [], "--rm deleted it");
    await t.ok(["image", "delete", "foreign"]);
  });
});
