#!/usr/bin/env node
// Benchmark: `banger vm create --no-start` through the real CLI and daemon,
// from a 256 MiB and a 2 GiB rootfs image (the test guest's kernel, initrd
// and work seed). Prints each create stage's median and the 2 GiB vs 256 MiB
// create-time ratio (target within 1.10: a VM never copies its rootfs).
// Needs the built tree (`npm run build`) and the test guest (built on first
// use, cached in /var/cache/banger-test). No networking: VMs are not started.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { benchSandbox, root } from "./lib.mjs";

const RUNS = 9;
const MiB = 1024 ** 2;
const { ensureTestGuest } = await import(pathToFileURL(path.join(root, "dist/test/guest/testGuest.js")).href);
const guest = await ensureTestGuest();

const box = benchSandbox("bgbench-create-");
const { dir, env } = box;
mkdirSync(path.join(env.HOME, ".config", "banger"), { recursive: true });
writeFileSync(
  path.join(env.HOME, ".config", "banger", "config.toml"),
  '[vm_defaults]\nvcpu = 1\nmemory = "512M"\ndisk_size = "8G"\n',
);

function cli(args) {
  const r = box.run(args);
  if (r.status !== 0) throw new Error(`banger ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function image(name, size, dataBytes) {
  const src = path.join(dir, `${name}.d`);
  mkdirSync(src);
  for (let done = 0; done < dataBytes; done += 4 * MiB)
    writeFileSync(path.join(src, "data.bin"), randomBytes(4 * MiB), { flag: "a" });
  const file = path.join(dir, `${name}.ext4`);
  spawnSync("truncate", ["-s", String(size), file]);
  spawnSync("mkfs.ext4", ["-F", "-q", "-b", "4096", "-d", src, file]);
  rmSync(src, { recursive: true });
  cli([
    "image",
    "register",
    name,
    "--kernel",
    guest.vmlinux,
    "--initrd",
    guest.initrd,
    "--rootfs",
    file,
    "--work-seed",
    guest.workSeed,
  ]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  image("small", 256 * MiB, 20 * MiB);
  image("big", 2048 * MiB, 200 * MiB);
  const wall = { small: [], big: [] };
  const stages = {};
  for (let i = 0; i < RUNS; i++) {
    for (const img of ["small", "big"]) {
      const t0 = process.hrtime.bigint();
      const vm = JSON.parse(cli(["vm", "create", "--no-start", "--image", img, "--json"]));
      wall[img].push(Number(process.hrtime.bigint() - t0) / 1e6);
      for (const t of vm.bootTimings ?? []) {
        const key = `${img} ${t.name}`;
        stages[key] = [...(stages[key] ?? []), t.ms];
      }
      cli(["vm", "delete", vm.name]);
    }
  }
  console.log(
    `vm create --no-start (CLI wall time, median of ${RUNS}); work disk 8G, overlay or reflink root:`,
  );
  for (const [k, v] of Object.entries(stages).sort())
    console.log(`  ${k.padEnd(26)} ${median(v).toFixed(0).padStart(5)} ms`);
  const s = median(wall.small);
  const b = median(wall.big);
  console.log(`  256 MiB image: ${s.toFixed(0)} ms, 2 GiB image: ${b.toFixed(0)} ms`);
  console.log(`2 GiB vs 256 MiB create time ratio: ${(b / s).toFixed(2)} (target within 1.10)`);
} finally {
  box.cleanup();
}
