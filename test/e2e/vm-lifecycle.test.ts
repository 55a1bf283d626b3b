/**
 * End to end: a real guest (kernel + initrd + rootfs built from Debian
 * packages, cached) booted by a real daemon through the QEMU driver (TCG
 * here), inside a network namespace this test creates and deletes, driven by
 * the real CLI; SSH with the managed key. The console goes through the VM's
 * log writer (banger-logger), capped at 64K with 2 rotated files here.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";
import { type CliResult, isAlive, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;

/** Poll `vm ssh NAME -- true` until the guest's SSH answers. */
async function waitSsh(name: string, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  let last: CliResult | undefined;
  while (Date.now() - t0 < timeoutMs) {
    last = await t.cli(["vm", "ssh", name, "--", "true"]);
    if (last.code === 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 500));
  }
  const show = await t.cli(["vm", "show", name]);
  throw new Error(`no SSH to ${name} within ${timeoutMs} ms: ${last?.stderr}\n${show.stdout}`);
}

function ipLinks(): Array<{ ifname: string; master?: string }> {
  return JSON.parse(t.inNs("ip", ["-j", "link", "show"])) as Array<{ ifname: string; master?: string }>;
}

describe("a VM boots for real, keeps /root, survives the daemon, and leaves nothing behind", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bge2e");
    t.sb.writeConfig(
      [
        'vmm = "qemu"',
        "[network]",
        "tap_pool_size = 2",
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "512M"',
        'disk_size = "1G"',
        "[logs]",
        'max_size = "64K"',
        "keep = 2",
        "",
      ].join("\n"),
    );
  });

  after(async () => {
    await t?.cleanup();
  });

  test("register the test image", async () => {
    await t.ok(registerArgs("tiny", guest));
    const imgs = await t.json<{ images: Array<{ name: string }> }>(["image", "list"]);
    assert.deepEqual(
      imgs.images.map((i) => i.name),
      ["tiny"],
    );
  });

  test("create boots the guest; SSH with the managed key runs uname -r", async () => {
    const r = await t.ok(["vm", "create", "--name", "e2e", "--image", "tiny"]);
    assert.match(r.stderr, /boot: spawn/, "stages are shown as they happen");
    const vm = await t.json<VmView>(["vm", "show", "e2e"]);
    assert.equal(vm.state, "running");
    assert.equal(vm.driver, "qemu");
    assert.equal(vm.acceleration, "tcg");
    assert.ok(vm.bootTimings?.some((t) => t.name === "boot:spawn"));
    const ms = await waitSsh("e2e");
    process.stderr.write(`# boot to SSH: ${ms} ms\n`);
    const u = await t.ok(["vm", "ssh", "e2e", "--", "uname", "-r"]);
    assert.equal(u.stdout.trim(), guest.kernelVersion);
    await t.ok(["vm", "ssh", "e2e", "--", "sh", "-c", "echo kept-across-restarts > /root/persist && sync"]);
    const code = await t.cli(["vm", "ssh", "e2e", "--", "sh", "-c", "exit 7"]);
    assert.equal(code.code, 7, "the remote exit code comes back");
  });

  test("the console goes through the log writer; `vm logs -f` follows it across rotations", async () => {
    const vm = await t.json<VmView>(["vm", "show", "e2e"]);
    const w = vm.logWriter;
    assert.ok(w?.running, `a running log writer: ${JSON.stringify(w)}`);
    assert.match(readFileSync(`/proc/${w.pid}/cmdline`, "latin1"), /^banger-logger\0/);
    assert.match(
      readlinkSync(`/proc/${vm.pid}/fd/1`),
      /\.fifo-[0-9a-f]+ \(deleted\)$/,
      "QEMU writes to a pipe",
    );
    assert.match((await t.ok(["vm", "logs", "e2e"])).stdout, /banger-agent: version/);
    const argv = [
      ...t.sb.wrap,
      process.execPath,
      path.join(repoRoot(), "bin", "banger"),
      "vm",
      "logs",
      "-f",
      "e2e",
    ];
    const follower = spawn(argv[0]!, argv.slice(1), { env: t.sb.env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    follower.stdout.on("data", (b) => (out += b));
    try {
      await until("the follower's first output", async () => (out.length > 0 ? true : undefined), 30_000);
      // 20000 numbered lines, about 260K: four rotations at 64K.
      await t.ok(["vm", "ssh", "e2e", "--", "sh", "-c", "seq -w 1 20000 | sed s/^/follow-/ > /dev/ttyS0"]);
      await until(
        "the last line followed",
        async () => (out.includes("follow-20000") ? true : undefined),
        60_000,
      );
    } finally {
      follower.kill("SIGTERM");
    }
    const seen = [...out.matchAll(/follow-(\d{5})/g)].map((m) => Number(m[1]));
    assert.equal(seen.length, 20000, "every line once: none lost, none repeated");
    seen.forEach((n, i) => {
      if (n !== i + 1) assert.fail(`line ${i + 1} followed as ${n}`);
    });
    const files = ["", ".1", ".2"].map((x) => `${vm.paths.consoleLog}${x}`);
    for (const f of files) assert.ok(statSync(f).size <= 64 * 1024, `${f} is under the cap`);
    assert.ok(!existsSync(`${vm.paths.consoleLog}.3`), "keep = 2");
  });

  test("stop, start again: the file under /root is still there", async () => {
    await t.ok(["vm", "stop", "e2e"]);
    assert.equal((await t.json<VmView>(["vm", "show", "e2e"])).state, "stopped");
    await t.ok(["vm", "start", "e2e"]);
    await waitSsh("e2e");
    const r = await t.ok(["vm", "ssh", "e2e", "--", "cat", "/root/persist"]);
    assert.equal(r.stdout.trim(), "kept-across-restarts");
  });

  test("kill -9 of the daemon: the VM keeps running and is adopted", async () => {
    const before = await t.json<VmView>(["vm", "show", "e2e"]);
    const daemon = t.sb.daemonPid();
    assert.ok(daemon);
    process.kill(daemon, "SIGKILL");
    assert.ok(await waitDead(daemon));
    const after = await t.json<VmView>(["vm", "show", "e2e"]);
    assert.equal(after.state, "running");
    assert.equal(after.pid, before.pid);
    assert.equal(after.tap, before.tap);
    assert.ok(before.logWriter?.running);
    assert.deepEqual(after.logWriter, before.logWriter, "the log writer outlived the daemon");
    const r = await t.ok(["vm", "ssh", "e2e", "--", "cat", "/root/persist"]);
    assert.equal(r.stdout.trim(), "kept-across-restarts");
  });

  test("a VMM that dies is noticed: the VM becomes crashed with the console's last lines", async () => {
    const vm = await t.json<VmView>(["vm", "show", "e2e"]);
    const writer = vm.logWriter?.pid;
    assert.ok(writer && isAlive(writer));
    process.kill(vm.pid!, "SIGKILL");
    assert.ok(await waitDead(writer), "the log writer ends with its VMM");
    const t0 = Date.now();
    let state = "";
    while (Date.now() - t0 < 5000) {
      state = (await t.json<VmView>(["vm", "show", "e2e"])).state;
      if (state === "crashed") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, "crashed");
    const shown = await t.json<VmView>(["vm", "show", "e2e"]);
    assert.match(shown.lastError ?? "", /exited unexpectedly; last console lines/);
    assert.equal(shown.tap, null, "its TAP went back");
  });

  test("8 concurrent creates get distinct names, IPs, TAPs, MACs and CIDs", async () => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => t.cli(["vm", "create", "--image", "tiny", "--no-wait", "--json"])),
    );
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    const vms = rs.map((r) => JSON.parse(r.stdout) as VmView);
    for (const key of ["name", "ip", "tap", "mac", "cid", "pid"] as const) {
      assert.equal(
        new Set(vms.map((v) => v[key])).size,
        8,
        `distinct ${key}s: ${vms.map((v) => v[key]).join(" ")}`,
      );
    }
    const links = ipLinks();
    const bridge = `bgr${process.getuid?.() ?? 0}`; // the default bridge, per user
    for (const v of vms) assert.equal(links.find((l) => l.ifname === v.tap)?.master, bridge);
    await Promise.all(vms.map((v) => t.ok(["vm", "delete", "--force", v.name])));
  });

  test("delete removes everything the VM owned", async () => {
    const vm = await t.json<VmView>(["vm", "show", "e2e"]);
    await t.ok(["vm", "delete", "e2e"]);
    const list = await t.json<VmListResult>(["vm", "list"]);
    assert.deepEqual(list.vms, []);
    assert.equal(existsSync(vm.paths.vmDir), false, "VM directory removed");
    const db = new DatabaseSync(path.join(t.sb.stateDir, "banger.db"), { readOnly: true });
    try {
      assert.equal(db.prepare("SELECT ip FROM leases").all().length, 0, "no lease left");
    } finally {
      db.close();
    }
    const taps = ipLinks().filter((l) => l.ifname.startsWith(`bgr${process.getuid?.() ?? 0}t`));
    assert.ok(taps.length <= 2, `only the idle pool remains: ${taps.map((t) => t.ifname).join(" ")}`);
    const vmms = t
      .processes()
      .filter((p) => /qemu|banger-logger/.test(readFileSync(`/proc/${p}/cmdline`, "utf8")));
    assert.deepEqual(vmms, [], "no VMM or log writer process left");
    await t.ok(["image", "delete", "tiny"]);
  });
});
