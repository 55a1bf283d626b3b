#!/usr/bin/env node
// Benchmark: what honouring the guest's flushes costs a write-heavy workload
// on the persistent work disk (/root), inside the real test guest under QEMU
// (TCG here), through the real daemon and CLI. Two daemons in one network
// namespace made for the run: one runs QEMU as banger does (writable drives
// cache=writeback: each guest flush is an fdatasync on the host), the other
// through a wrapper that rewrites cache=writeback to cache=unsafe (flushes
// dropped) before exec'ing QEMU. Workloads, timed inside the guest
// (/proc/uptime, 10 ms), alternated between the two VMs:
//   - dd 64 MiB of zeros in 1 MiB blocks, conv=fsync (one flush at the end);
//   - 500 writes of 4 KiB to /root mounted -o sync, each write committed and
//     flushed (a database's journal, without a process per write).
// Prints the median of 5 runs per mode and the writeback/unsafe ratio.
// Root only (network namespace, TAP); the test guest is built on first use.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { banger, root } from "./lib.mjs";

const RUNS = 5;
if (process.getuid() !== 0) throw new Error("run as root (network namespace, TAP)");
const { ensureTestGuest } = await import(pathToFileURL(path.join(root, "dist/test/guest/testGuest.js")).href);
const guest = await ensureTestGuest();
const NS = `bgbench-flush-${randomBytes(2).toString("hex")}`;
const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-gflush-"));
chmodSync(dir, 0o755); // QEMU runs as banger-vmm: it must reach the wrapper
const wrapper = path.join(dir, "qemu-unsafe");
writeFileSync(
  wrapper,
  '#!/bin/sh\nfor a do shift; case "$a" in *cache=writeback*) a="${a%%cache=writeback*}cache=unsafe${a#*cache=writeback}";; esac\n' +
    'set -- "$@" "$a"; done\nexec /usr/bin/qemu-system-x86_64 "$@"\n',
);
chmodSync(wrapper, 0o755);

function box(name, extra) {
  const home = path.join(dir, name, "home");
  const run = path.join(dir, name, "run");
  mkdirSync(path.join(home, ".config", "banger"), { recursive: true });
  mkdirSync(run, { recursive: true, mode: 0o700 });
  writeFileSync(
    path.join(home, ".config", "banger", "config.toml"),
    `vmm = "qemu"\n${extra}[network]\nbridge = "bgrfl${name[0]}"\nsubnet = "172.31.${name === "writeback" ? 1 : 2}.0/24"\ntap_pool_size = 0\n[vm_defaults]\nvcpu = 1\nmemory = "512M"\ndisk_size = "1G"\n`,
  );
  const env = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: run, NO_COLOR: "1" };
  const cli = (args) => {
    const r = spawnSync("ip", ["netns", "exec", NS, process.execPath, banger, ...args], {
      env,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`banger ${args.join(" ")} (${name}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return { name, cli };
}

/** Run the case in the guest; seconds its `run` took, from the guest's /proc/uptime. */
function timed(b, c) {
  const script = `${c.pre ?? ":"}; read s _ < /proc/uptime; ${c.run}; read e _ < /proc/uptime; ${c.post}; echo "T $s $e"`;
  const out = b.cli(["vm", "exec", "f", "--", "sh", "-c", script]);
  const m = /T ([\d.]+) ([\d.]+)/.exec(out);
  if (!m) throw new Error(`no timing in: ${out}`);
  return Number(m[2]) - Number(m[1]);
}

const cases = [
  {
    name: "dd 64 MiB in 1 MiB blocks, conv=fsync",
    run: "dd if=/dev/zero of=/root/big bs=1M count=64 conv=fsync 2>/dev/null",
    post: "rm -f /root/big; sync",
  },
  {
    // /root mounted -o sync: each write(2) commits and flushes, in one process (no fork per write).
    name: "500 synchronous writes of 4 KiB (/root mounted -o sync)",
    pre: "mount -o remount,sync /root",
    run: "dd if=/dev/zero of=/root/journal bs=4k count=500 2>/dev/null",
    post: "mount -o remount,async /root; rm -f /root/journal; sync",
  },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const boxes = [box("writeback", ""), box("unsafe", `qemu_bin = "${wrapper}"\n`)];
spawnSync("ip", ["netns", "add", NS]);
try {
  for (const b of boxes) {
    b.cli([
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
    b.cli(["vm", "create", "--name", "f", "--image", "tiny"]);
    const cmdline = b.cli(["vm", "show", "f", "--json"]);
    const pid = JSON.parse(cmdline).pid;
    const args = spawnSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).stdout;
    const mode = /cache=unsafe/.test(args.replace(/readonly=on,cache=unsafe/g, "")) ? "unsafe" : "writeback";
    if (mode !== b.name) throw new Error(`${b.name}: QEMU runs the work disk with cache=${mode}`);
  }
  for (const c of cases) {
    const t = { writeback: [], unsafe: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const b of i % 2 ? [...boxes].reverse() : boxes) {
        t[b.name].push(timed(b, c));
      }
    }
    const wb = median(t.writeback);
    const un = median(t.unsafe);
    console.log(
      `guest ${c.name}: cache=writeback ${(wb * 1000).toFixed(0)} ms, cache=unsafe ${(un * 1000).toFixed(0)} ms (x${(wb / un).toFixed(2)})`,
    );
  }
} finally {
  for (const b of boxes) {
    try {
      b.cli(["vm", "delete", "-f", "f"]);
    } catch {
      /* not created */
    }
    try {
      b.cli(["daemon", "stop"]);
    } catch {
      /* not running */
    }
  }
  spawnSync("ip", ["netns", "del", NS]);
  rmSync(dir, { recursive: true, force: true });
}
