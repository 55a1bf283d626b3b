/**
 * End to end, instant sandboxes: a real test guest under QEMU/TCG (the daemon
 * runs as root, so QEMU runs as banger-vmm), driven by the real CLI inside a
 * network namespace. Every probe runs in the guests (through the agent or SSH)
 * and prints what it saw.
 *  - suspend: a marker in /dev/shm survives suspend, a daemon kill -9 and resume;
 *  - fork x3: each clone has the marker, its own hostname, machine-id, address
 *    and host key (SSH with the pinned key), and a write in one is seen nowhere else;
 *  - pause/resume, stop of a suspended VM, and nothing left after delete.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs } from "../helpers/nsSandbox.js";
import { waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;
const CLONES = ["cl-1", "cl-2", "cl-3"];

async function sh(name: string, script: string): Promise<string> {
  return (await t.ok(["vm", "exec", name, "--", "sh", "-c", script])).stdout.trim();
}

const show = (name: string) => t.json<VmView>(["vm", "show", name]);

/** VMM processes of the sandbox (their stdout is a log file in it); the daemon's own pid left out. */
function vmmProcesses(): number[] {
  const daemon = t.sb.daemonPid();
  return t
    .processes()
    .filter((pid) => pid !== daemon && readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("qemu"));
}

describe("instant sandboxes: suspend, resume, pause, fork", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bginst");
    t.sb.writeConfig(
      [
        'vmm = "qemu"',
        "[network]",
        "tap_pool_size = 1",
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "256M"',
        "",
      ].join("\n"),
    );
    await t.ok(registerArgs("tiny", guest));
    await t.ok(["vm", "create", "--name", "src", "--image", "tiny"]);
  });

  after(async () => {
    await t?.cleanup();
  });

  test("suspend: RAM marker survives suspend, a daemon kill -9 and resume", async () => {
    assert.equal(
      await sh("src", "echo in-ram-$$ > /dev/shm/marker && cat /dev/shm/marker | cut -c1-6"),
      "in-ram",
    );
    const marker = await sh("src", "cat /dev/shm/marker");
    const s = await t.json<VmView>(["vm", "suspend", "src", "--json"]);
    assert.equal(s.state, "suspended");
    assert.equal(s.pid, null);
    assert.ok(s.saved && s.saved.diskBytes > 0, "the saved state's size on disk is shown");
    process.stderr.write(`# suspended: state ${s.saved.stateBytes} B, ${s.saved.diskBytes} B on disk\n`);
    const list = await t.ok(["vm", "list"]);
    assert.match(list.stdout, /src\s+suspended/);
    const daemon = t.sb.daemonPid();
    assert.ok(daemon);
    process.kill(daemon, "SIGKILL");
    assert.ok(await waitDead(daemon));
    assert.equal((await show("src")).state, "suspended", "still suspended after the daemon's restart");
    const r = await t.json<VmView>(["vm", "resume", "src", "--json"]);
    assert.equal(r.state, "running");
    assert.equal(await sh("src", "cat /dev/shm/marker"), marker);
    const guestNow = Number(await sh("src", "date +%s"));
    assert.ok(Math.abs(guestNow - Date.now() / 1000) < 10, `the guest's clock was set (${guestNow})`);
    assert.ok(!existsSync(path.join(r.paths.vmDir, "state.bin")), "a spent state file is removed");
  });

  test("pause freezes, resume unfreezes", async () => {
    assert.equal((await t.json<VmView>(["vm", "pause", "src", "--json"])).state, "paused");
    const up1 = await t.cli(["vm", "exec", "src", "--", "true"]);
    assert.notEqual(up1.code, 0, "exec into a paused VM is refused");
    assert.equal((await t.json<VmView>(["vm", "resume", "src", "--json"])).state, "running");
    assert.equal(await sh("src", "echo alive"), "alive");
  });

  test("fork x3: marker everywhere; own hostname, machine-id, address and host key; writes stay apart", async () => {
    const marker = await sh("src", "cat /dev/shm/marker");
    // The guest kernel's vmgenid driver is bound to QEMU's generation-ID device (it reseeds on restore).
    assert.match(await sh("src", "ls /sys/bus/acpi/drivers/vmgenid/ 2>&1 || true"), /QEMUVGID/);
    const srcIdentity = await sh("src", "hostname; cat /etc/machine-id 2>/dev/null || echo none");
    const t0 = Date.now();
    const clones = await t.json<VmView[]>(["vm", "fork", "src", "--name", "cl", "--count", "3", "--json"]);
    process.stderr.write(`# fork x3: ${Date.now() - t0} ms\n`);
    assert.deepEqual(
      clones.map((c) => c.name),
      CLONES,
    );
    const seen = new Set<string>([srcIdentity.split("\n")[1]!]);
    const ips = new Set<string>();
    const keys = new Set<string>();
    for (const c of clones) {
      assert.equal(c.state, "running");
      assert.equal(await sh(c.name, "cat /dev/shm/marker"), marker, `${c.name} has the source's RAM`);
      const [host, mid] = (await sh(c.name, "hostname; cat /etc/machine-id")).split("\n");
      assert.equal(host, c.name);
      assert.ok(mid && !seen.has(mid), `${c.name} has its own machine-id (${mid})`);
      seen.add(mid!);
      const addr = await sh(c.name, "ip -4 -o addr show dev eth0");
      assert.match(addr, new RegExp(`inet ${c.ip!.replaceAll(".", "\\.")}/`), `${c.name}'s eth0: ${addr}`);
      ips.add(c.ip!);
      keys.add(readFileSync(path.join(c.paths.vmDir, "ssh_host_ed25519_key.pub"), "utf8"));
      // SSH over the clone's own address, checked against its own pinned host key.
      assert.equal((await t.ok(["vm", "ssh", c.name, "--", "hostname"])).stdout.trim(), c.name);
    }
    assert.equal(ips.size, 3);
    assert.equal(keys.size, 3);
    await sh("cl-1", "echo only-in-cl-1 > /root/mine && sync");
    assert.equal(await sh("cl-2", "test -e /root/mine && echo LEAK || echo none"), "none");
    assert.equal(await sh("src", "test -e /root/mine && echo LEAK || echo none"), "none");
    assert.equal(await sh("src", "hostname"), "src", "the source keeps its identity");
    assert.deepEqual(
      readdirSync(path.join(t.sb.stateDir, "vms")).filter((d) => d.startsWith(".fork-")),
      [],
      "the fork's template is removed",
    );
  });

  test("stop of a suspended VM resumes it and shuts it down; its state files go", async () => {
    await t.ok(["vm", "suspend", "cl-3"]);
    const v = await t.json<VmView>(["vm", "stop", "cl-3", "--json"]);
    assert.equal(v.state, "stopped");
    assert.ok(!existsSync(path.join(v.paths.vmDir, "memory.raw")), "the RAM file is removed");
    assert.ok(!existsSync(path.join(v.paths.vmDir, "state.bin")));
  });

  test("scale to zero: an idle VM suspends itself; vm exec wakes it with one line, its memory intact", async () => {
    await t.ok(["vm", "create", "--name", "nap", "--image", "tiny", "--auto-suspend-after", "10s"]);
    assert.equal(await sh("nap", "echo dreaming > /dev/shm/m && cat /dev/shm/m"), "dreaming");
    const t0 = Date.now();
    let v = await show("nap");
    while (v.state !== "suspended" && Date.now() - t0 < 120_000) {
      await new Promise((r) => setTimeout(r, 1000));
      v = await show("nap");
    }
    process.stderr.write(`# idle suspend after ${Date.now() - t0} ms (timeout 10 s, checks every 5 s)\n`);
    assert.equal(v.state, "suspended", `still ${v.state}: ${JSON.stringify(v.stats)}`);
    assert.equal(v.saved?.auto, true);
    const r = await t.ok(["vm", "exec", "nap", "--", "cat", "/dev/shm/m"]);
    assert.equal(r.stdout.trim(), "dreaming");
    assert.match(r.stderr, /^banger: nap had suspended itself while idle; resumed in \d+ ms$/m);
    assert.equal((await show("nap")).state, "running");
  });

  test("delete of every VM leaves no state, memory or VM directory", async () => {
    await t.ok(["vm", "suspend", "cl-2"]);
    for (const n of ["src", "nap", ...CLONES]) await t.ok(["vm", "delete", "--force", n]);
    assert.deepEqual(readdirSync(path.join(t.sb.stateDir, "vms")), []);
    assert.deepEqual(vmmProcesses(), [], "no VMM is left");
  });
});
