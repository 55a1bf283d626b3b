#!/usr/bin/env node
// Benchmark: instant sandboxes against a cold boot, in one run, through the
// real CLI and daemon, with the small test guest under QEMU (TCG here), in a
// network namespace made for the run. Each figure is the time until a
// command has run in the guest (`vm exec NAME -- true` answers):
//   cold:   `vm create` (a boot) + exec;
//   pool:   `vm create` that claims a ready VM from the warm pool ([pool] size = 1) + exec;
//   resume: `vm resume` of a suspended VM + exec;
//   fork3:  `vm fork --count 3` + an exec in each clone.
// Prints medians, each against cold, and the QEMU RSS of 3 clones against 3 cold VMs.
// Root only (network namespace, TAP); the test guest is built on first use.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { banger, root } from "./lib.mjs";

const RUNS = 3;
if (process.getuid() !== 0) throw new Error("run as root (network namespace, TAP)");
const { ensureTestGuest } = await import(pathToFileURL(path.join(root, "dist/test/guest/testGuest.js")).href);
const guest = await ensureTestGuest();
const NS = `bgbench-inst-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-inst-"));
chmodSync(dir, 0o755);
const home = path.join(dir, "home");
const run = path.join(dir, "run");
mkdirSync(path.join(home, ".config", "banger"), { recursive: true });
mkdirSync(run, { recursive: true, mode: 0o700 });
const env = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: run, NO_COLOR: "1" };

function config(poolSize) {
  writeFileSync(
    path.join(home, ".config", "banger", "config.toml"),
    `vmm = "qemu"\ndefault_image_name = "tiny"\n[network]\nbridge = "bgrinst"\nsubnet = "172.31.9.0/24"\ntap_pool_size = 2\n[pool]\nsize = ${poolSize}\n[vm_defaults]\nvcpu = 1\nmemory = "256M"\ndisk_size = "1G"\n`,
  );
}

function cli(args) {
  const r = spawnSync("ip", ["netns", "exec", NS, process.execPath, banger, ...args], {
    env,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`banger ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const exec = (name) => cli(["vm", "exec", name, "--", "true"]);

function timed(fn) {
  const t0 = now();
  fn();
  return now() - t0;
}

function restartDaemon(poolSize) {
  cli(["daemon", "stop"]);
  config(poolSize);
  cli(["daemon", "start"]);
}

function waitPool() {
  for (let i = 0; i < 600; i++) {
    const s = JSON.parse(cli(["daemon", "status", "--json"]));
    if (s.pool?.ready >= 1) return;
    spawnSync("sleep", ["0.5"]);
  }
  throw new Error("the warm pool never got a ready VM");
}

/** Total RSS (MiB) of the QEMU processes of these VMs. */
function rssMib(names) {
  let kib = 0;
  for (const n of names) {
    const pid = JSON.parse(cli(["vm", "show", n, "--json"])).pid;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    kib += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return kib / 1024;
}

try {
  spawnSync("ip", ["netns", "add", NS]);
  spawnSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
  config(0);
  cli([
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
  const t = { cold: [], pool: [], resume: [], fork3: [] };
  for (let i = 0; i < RUNS; i++) {
    t.cold.push(
      timed(() => {
        cli(["vm", "create", "--name", `c${i}`]);
        exec(`c${i}`);
      }),
    );
    cli(["vm", "suspend", `c${i}`]);
    t.resume.push(
      timed(() => {
        cli(["vm", "resume", `c${i}`]);
        exec(`c${i}`);
      }),
    );
    t.fork3.push(
      timed(() => {
        cli(["vm", "fork", `c${i}`, "--name", `f${i}`, "--count", "3"]);
        for (let k = 1; k <= 3; k++) exec(`f${i}-${k}`);
      }),
    );
  }
  const coldRss = rssMib(["c0", "c1", "c2"]);
  const cloneRss = rssMib(["f0-1", "f0-2", "f0-3"]);
  for (const n of JSON.parse(cli(["vm", "list", "--all", "--json"])).vms.map((v) => v.name))
    cli(["vm", "delete", "--force", n]);
  restartDaemon(1);
  for (let i = 0; i < RUNS; i++) {
    waitPool();
    t.pool.push(
      timed(() => {
        cli(["vm", "create", "--name", `p${i}`]);
        exec(`p${i}`);
      }),
    );
  }
  const cold = median(t.cold);
  console.log(`instant sandboxes (test guest, QEMU ${process.arch}, TCG, median of ${RUNS}):`);
  console.log(`  cold create + exec:          ${cold.toFixed(0)} ms`);
  for (const [k, label] of [
    ["pool", "pool-claimed create + exec"],
    ["resume", "resume + exec"],
    ["fork3", "fork x3 + exec in each"],
  ]) {
    const m = median(t[k]);
    console.log(
      `  ${(label + ":").padEnd(29)}${m.toFixed(0)} ms  (${((m / cold) * 100).toFixed(0)}% of cold)`,
    );
  }
  console.log(`  QEMU RSS: 3 clones ${cloneRss.toFixed(0)} MiB, 3 cold VMs ${coldRss.toFixed(0)} MiB`);
} finally {
  try {
    // Fill no more, then delete every VM (pool members too) through the daemon.
    restartDaemon(0);
    for (const n of JSON.parse(cli(["vm", "list", "--all", "--json"])).vms.map((v) => v.name))
      cli(["vm", "delete", "--force", n]);
  } catch (e) {
    console.error(`cleanup: ${e.message}`);
  }
  spawnSync("ip", ["netns", "exec", NS, process.execPath, banger, "daemon", "stop"], { env });
  spawnSync("ip", ["netns", "del", NS]);
  rmSync(dir, { recursive: true, force: true });
}
