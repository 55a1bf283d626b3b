/**
 * End to end: a real guest (kernel + initrd + rootfs built from Debian
 * packages, cached) booted by a real daemon through the QEMU driver (TCG
 * here), inside a network namespace this test creates and deletes, driven by
 * the real CLI; SSH with the managed key.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { VmListResult, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { type CliResult, isAlive, Sandbox, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const isRoot = process.getuid?.() === 0;
const hasQemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].some((p) =>
  existsSync(p),
);
const skip = !isRoot
  ? "needs root (network namespaces)"
  : !hasQemu
    ? "needs qemu-system-x86_64 (apt-get install qemu-system-x86)"
    : false;

const NS = `bge2e-${process.pid}-${randomBytes(2).toString("hex")}`;
let sb: Sandbox;
let guest: TestGuest;

/** Every process whose command line mentions the sandbox dir (daemon, QEMU). */
function sandboxProcesses(): number[] {
  const out: number[] = [];
  for (const n of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${n}/cmdline`, "utf8").includes(sb.dir)) out.push(Number(n));
    } catch {
      /* gone */
    }
  }
  return out.filter((p) => p !== process.pid);
}

async function ok(args: string[]): Promise<CliResult> {
  const r = await sb.cli(args);
  assert.equal(r.code, 0, `banger ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse((await ok([...args, "--json"])).stdout) as T;
}

/** Poll `vm ssh NAME -- true` until the guest's SSH answers. */
async function waitSsh(name: string, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  let last: CliResult | undefined;
  while (Date.now() - t0 < timeoutMs) {
    last = await sb.cli(["vm", "ssh", name, "--", "true"]);
    if (last.code === 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 500));
  }
  const show = await sb.cli(["vm", "show", name]);
  throw new Error(`no SSH to ${name} within ${timeoutMs} ms: ${last?.stderr}\n${show.stdout}`);
}

function ipLinks(): Array<{ ifname: string; master?: string }> {
  const out = execFileSync("ip", ["-n", NS, "-j", "link", "show"], { encoding: "utf8" });
  return JSON.parse(out) as Array<{ ifname: string; master?: string }>;
}

describe("a VM boots for real, keeps /root, survives the daemon, and leaves nothing behind", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    await runner.run(["ip", "netns", "add", NS]);
    await runner.run(["ip", "-n", NS, "link", "set", "lo", "up"]);
    sb = new Sandbox();
    sb.wrap = ["ip", "netns", "exec", NS];
    sb.writeConfig(
      [
        'vmm = "qemu"',
        "[network]",
        "tap_pool_size = 2",
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "512M"',
        'disk_size = "1G"',
        "",
      ].join("\n"),
    );
  });

  after(async () => {
    if (!sb) return;
    await sb.cli(["daemon", "stop"]).catch(() => undefined);
    for (const pid of sandboxProcesses()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitDead(pid);
    }
    await runner.run(["ip", "netns", "del", NS], { allowFailure: true });
    await sb.cleanup();
  });

  test("register the test image", async () => {
    await ok([
      "image",
      "register",
      "tiny",
      "--kernel",
      guest.vmlinux,
      "--initrd",
      guest.initrd,
      "--rootfs",
      guest.rootfs,
      "--work-seed",
      guest.workSeed,
    ]);
    const imgs = await json<{ images: Array<{ name: string }> }>(["image", "list"]);
    assert.deepEqual(
      imgs.images.map((i) => i.name),
      ["tiny"],
    );
  });

  test("create boots the guest; SSH with the managed key runs uname -r", async () => {
    const r = await ok(["vm", "create", "--name", "e2e", "--image", "tiny"]);
    assert.match(r.stderr, /boot: spawn/, "stages are shown as they happen");
    const vm = await json<VmView>(["vm", "show", "e2e"]);
    assert.equal(vm.state, "running");
    assert.equal(vm.driver, "qemu");
    assert.equal(vm.acceleration, "tcg");
    assert.ok(vm.bootTimings?.some((t) => t.name === "boot:spawn"));
    const ms = await waitSsh("e2e");
    process.stderr.write(`# boot to SSH: ${ms} ms\n`);
    const u = await ok(["vm", "ssh", "e2e", "--", "uname", "-r"]);
    assert.equal(u.stdout.trim(), guest.kernelVersion);
    await ok(["vm", "ssh", "e2e", "--", "sh", "-c", "echo kept-across-restarts > /root/persist && sync"]);
    const code = await sb.cli(["vm", "ssh", "e2e", "--", "sh", "-c", "exit 7"]);
    assert.equal(code.code, 7, "the remote exit code comes back");
  });

  test("stop, start again: the file under /root is still there", async () => {
    await ok(["vm", "stop", "e2e"]);
    assert.equal((await json<VmView>(["vm", "show", "e2e"])).state, "stopped");
    await ok(["vm", "start", "e2e"]);
    await waitSsh("e2e");
    const r = await ok(["vm", "ssh", "e2e", "--", "cat", "/root/persist"]);
    assert.equal(r.stdout.trim(), "kept-across-restarts");
  });

  test("kill -9 of the daemon: the VM keeps running and is adopted", async () => {
    const before = await json<VmView>(["vm", "show", "e2e"]);
    const daemon = sb.daemonPid();
    assert.ok(daemon);
    process.kill(daemon, "SIGKILL");
    assert.ok(await waitDead(daemon));
    const after = await json<VmView>(["vm", "show", "e2e"]);
    assert.equal(after.state, "running");
    assert.equal(after.pid, before.pid);
    assert.equal(after.tap, before.tap);
    const r = await ok(["vm", "ssh", "e2e", "--", "cat", "/root/persist"]);
    assert.equal(r.stdout.trim(), "kept-across-restarts");
  });

  test("a VMM that dies is noticed: the VM becomes crashed with the console's last lines", async () => {
    const vm = await json<VmView>(["vm", "show", "e2e"]);
    process.kill(vm.pid!, "SIGKILL");
    const t0 = Date.now();
    let state = "";
    while (Date.now() - t0 < 5000) {
      state = (await json<VmView>(["vm", "show", "e2e"])).state;
      if (state === "crashed") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, "crashed");
    const shown = await json<VmView>(["vm", "show", "e2e"]);
    assert.match(shown.lastError ?? "", /exited unexpectedly; last console lines/);
    assert.equal(shown.tap, null, "its TAP went back");
  });

  test("8 concurrent creates get distinct names, IPs, TAPs, MACs and CIDs", async () => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => sb.cli(["vm", "create", "--image", "tiny", "--json"])),
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
    for (const v of vms) assert.equal(links.find((l) => l.ifname === v.tap)?.master, "banger0");
    await Promise.all(vms.map((v) => ok(["vm", "delete", "--force", v.name])));
  });

  test("delete removes everything the VM owned", async () => {
    const vm = await json<VmView>(["vm", "show", "e2e"]);
    await ok(["vm", "delete", "e2e"]);
    const list = await json<VmListResult>(["vm", "list"]);
    assert.deepEqual(list.vms, []);
    assert.equal(existsSync(vm.paths.vmDir), false, "VM directory removed");
    const db = new Database(path.join(sb.stateDir, "banger.db"), { readonly: true });
    try {
      assert.deepEqual(db.prepare("SELECT ip FROM leases").all(), [], "no lease left");
    } finally {
      db.close();
    }
    const taps = ipLinks().filter((l) => l.ifname.startsWith("banger0t"));
    assert.ok(taps.length <= 2, `only the idle pool remains: ${taps.map((t) => t.ifname).join(" ")}`);
    const qemus = sandboxProcesses().filter((p) =>
      readFileSync(`/proc/${p}/cmdline`, "utf8").includes("qemu"),
    );
    assert.deepEqual(qemus, [], "no VMM process left");
    await ok(["image", "delete", "tiny"]);
  });
});
