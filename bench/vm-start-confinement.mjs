#!/usr/bin/env node
// Benchmark: what confinement adds to a VM start. Boots the test guest's
// kernel with the real QEMU driver (TCG), alternating, in the same run:
//   confined:   as banger-vmm, -sandbox on, a cgroup made and the paused VMM
//               attached through the real privileged helper, then `cont`;
//   unconfined: as root, no cgroup, and a wrapper that drops the -sandbox
//               argument before exec'ing QEMU.
// Prints the median boot() time (what `vm start` waits for: QEMU running)
// of each and the cgroup create/attach cost. Root only; no networking.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "./lib.mjs";

const RUNS = 9;
const imp = (p) => import(pathToFileURL(path.join(root, "dist", p)).href);
const { ensureTestGuest } = await imp("test/guest/testGuest.js");
const { QemuDriver } = await imp("src/vmm/qemu/QemuDriver.js");
const { HelperClient } = await imp("src/host/helper/HelperClient.js");
const { lookupVmmUser } = await imp("src/helper/context.js");

if (process.getuid() !== 0) throw new Error("run as root");
const identity = lookupVmmUser();
if (!identity) throw new Error("banger-vmm is missing: run scripts/install as root");
const guest = await ensureTestGuest();
const dir = mkdtempSync(path.join(os.tmpdir(), "bgbench-confine-"));
const wrapper = path.join(dir, "qemu-unsandboxed");
writeFileSync(
  wrapper,
  '#!/bin/sh\nfor a do shift; if [ "$skip" = 1 ]; then skip=0; continue; fi\n' +
    'if [ "$a" = -sandbox ]; then skip=1; continue; fi; set -- "$@" "$a"; done\n' +
    'exec /usr/bin/qemu-system-x86_64 "$@"\n',
);
chmodSync(wrapper, 0o755);
const helper = new HelperClient({ command: [process.execPath, path.join(root, "dist/src/helper/main.js")] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function spec(i) {
  const vmDir = path.join(dir, `vm${i}`);
  spawnSync("mkdir", ["-p", vmDir]);
  const rootfs = path.join(vmDir, "root.ext4");
  copyFileSync(guest.rootfs, rootfs);
  return {
    id: (0xbe0000 + i).toString(16).padStart(16, "0"),
    name: `bench${i}`,
    vcpu: 1,
    memoryMib: 256,
    kernelPath: guest.vmlinux,
    initrdPath: guest.initrd,
    kernelArgs: "banger.root=/dev/vda",
    drives: [{ id: "rootfs", path: rootfs, readOnly: false, isRoot: true }],
    net: null,
    cid: 3,
    vmDir,
    consoleLog: path.join(vmDir, "console.log"),
    vmmLog: path.join(vmDir, "vmm.log"),
  };
}

const confined = new QemuDriver({ accelDetect: () => "tcg", identity: () => identity });
const plain = new QemuDriver({ accelDetect: () => "tcg", qemuBin: wrapper });
const res = { confined: [], unconfined: [], cgroup: [] };
try {
  // The daemon starts its helper once; its start-up is not part of a VM start.
  const h0 = performance.now();
  await helper.call("hello", {});
  console.log(`helper start-up (once per daemon): ${(performance.now() - h0).toFixed(0)} ms`);
  for (let i = 0; i < RUNS * 2; i++) {
    const isConfined = i % 2 === 0;
    const s = spec(i);
    let cgMs = 0;
    const t0 = performance.now();
    let handle;
    if (isConfined) {
      const c0 = performance.now();
      await helper.call("cgroup.create", {
        vm: s.id,
        limits: { memoryBytes: (256 + 416) * 1024 ** 2, pids: 130, cpus: 1 },
      });
      cgMs += performance.now() - c0;
      ({ handle } = await confined.boot(s, {
        onVmmStarted: async (pid) => {
          const a0 = performance.now();
          await helper.call("cgroup.attach", { vm: s.id, pid });
          cgMs += performance.now() - a0;
        },
      }));
    } else {
      ({ handle } = await plain.boot(s));
    }
    const ms = performance.now() - t0;
    (isConfined ? res.confined : res.unconfined).push(ms);
    if (isConfined) res.cgroup.push(cgMs);
    await (isConfined ? confined : plain).stop(handle, { timeoutMs: 0 });
    if (isConfined) await helper.call("cgroup.remove", { vm: s.id });
    rmSync(s.vmDir, { recursive: true, force: true });
  }
} finally {
  helper.close();
  rmSync(dir, { recursive: true, force: true });
}
const c = median(res.confined);
const u = median(res.unconfined);
console.log(`vm start (QEMU running, TCG), median of ${RUNS} each:`);
console.log(`  confined   ${c.toFixed(0)} ms  (all: ${res.confined.map((x) => x.toFixed(0)).join(" ")})`);
console.log(`  unconfined ${u.toFixed(0)} ms  (all: ${res.unconfined.map((x) => x.toFixed(0)).join(" ")})`);
console.log(`  cgroup create + attach through the helper: median ${median(res.cgroup).toFixed(1)} ms`);
console.log(`  confined / unconfined: ${(c / u).toFixed(2)}x`);
