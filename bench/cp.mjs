#!/usr/bin/env node
// Benchmark: `banger vm cp` (through the guest agent) against SSH to the same
// VM, both directions, one file of BENCH_CP_MIB MiB (default 256; 1024 for the
// flat-memory check). The SSH side is `ssh VM 'cat > F'` / `ssh VM 'cat F'`
// through `banger vm ssh`: the test guest (busybox + dropbear) has no scp or
// sftp-server, and scp's legacy protocol is exactly this byte stream over one
// ssh channel plus a small header. Prints MiB/s for each and the peak RSS of
// the CLI (and the daemon's peak) to show memory stays flat.
// Needs root (a network namespace made and deleted here), qemu and the test guest.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { banger, benchSandbox, root } from "./lib.mjs";

const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_CP_MIB ?? 256) * MiB;
const { ensureTestGuest } = await import(pathToFileURL(path.join(root, "dist/test/guest/testGuest.js")).href);
const guest = await ensureTestGuest();
const ns = `bgbcp-${process.pid}`;
execFileSync("ip", ["netns", "add", ns]);
execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
const box = benchSandbox("bgbench-cp-");
const { dir, env } = box;
// e.g. --max-old-space-size=32: the CLI and the daemon it starts run with a capped heap (a flat-memory check)
if (process.env.BENCH_CP_NODE_OPTIONS) env.NODE_OPTIONS = process.env.BENCH_CP_NODE_OPTIONS;

function run(args, opts = {}) {
  const argv = [
    "ip",
    "netns",
    "exec",
    ns,
    "/usr/bin/time",
    "-f",
    "maxrss_kib=%M",
    process.execPath,
    banger,
    ...args,
  ];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, maxBuffer: 16 * MiB, ...opts });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const stderr = String(r.stderr ?? "");
  if (r.status !== 0) throw new Error(`banger ${args.join(" ")} exited ${r.status}: ${stderr}`);
  const rss = Number(/maxrss_kib=(\d+)/.exec(stderr)?.[1] ?? 0) * 1024;
  return { s, rss, stdout: r.stdout };
}

const mibps = (s) => (SIZE / MiB / s).toFixed(1);
const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;

try {
  const cfg = path.join(env.HOME, ".config", "banger");
  execFileSync("mkdir", ["-p", cfg]);
  const disk = Math.max(2, Math.ceil((3 * SIZE) / 1024 ** 3) + 1);
  execFileSync("sh", [
    "-c",
    `printf '%s\\n' 'vmm = "qemu"' 'default_image_name = "tiny"' '[vm_defaults]' 'vcpu = 1' 'memory = "512M"' 'disk_size = "${disk}G"' > "$1"`,
    "sh",
    path.join(cfg, "config.toml"),
  ]);
  run([
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
  run(["vm", "create", "--name", "bench"]);
  for (let i = 0; ; i++) {
    try {
      run(["vm", "ssh", "bench", "--", "true"]);
      break;
    } catch (e) {
      if (i > 120) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const file = path.join(dir, "payload.bin");
  const chunk = randomBytes(4 * MiB);
  const fd = openSync(file, "w");
  for (let done = 0; done < SIZE; done += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
  const want = createHash("sha256").update(readFileSync(file)).digest("hex");

  const daemonPid = Number(readFileSync(path.join(env.XDG_RUNTIME_DIR, "banger", "bangerd.pid"), "utf8"));
  const hwm = () =>
    Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemonPid}/status`, "utf8"))?.[1]) * 1024;
  const before = hwm();
  const cpIn = run(["vm", "cp", file, "bench:/root/agent.bin"]);
  const cpOut = run(["vm", "cp", "bench:/root/agent.bin", path.join(dir, "agent.out")]);
  const after = hwm();
  const got = createHash("sha256")
    .update(readFileSync(path.join(dir, "agent.out")))
    .digest("hex");
  if (got !== want || statSync(path.join(dir, "agent.out")).size !== SIZE)
    throw new Error("vm cp round trip differs");
  const withSsh = process.env.BENCH_CP_SSH !== "0";
  const sshIn = withSsh
    ? run(["vm", "ssh", "bench", "--", "sh", "-c", "cat > /root/ssh.bin"], { input: readFileSync(file) })
    : null;
  const sshOut = withSsh
    ? run(["vm", "ssh", "bench", "--", "cat", "/root/ssh.bin"], { maxBuffer: SIZE + MiB })
    : null;
  const ssh = (r) => (r ? `${mibps(r.s)} MiB/s (${r.s.toFixed(1)} s)` : "not run (BENCH_CP_SSH=0)");
  console.log(`vm cp vs ssh cat (scp's byte stream), ${mib(SIZE)}, QEMU`);
  console.log(`  into the guest:  vm cp ${mibps(cpIn.s)} MiB/s (${cpIn.s.toFixed(1)} s) | ssh ${ssh(sshIn)}`);
  console.log(
    `  out of it:       vm cp ${mibps(cpOut.s)} MiB/s (${cpOut.s.toFixed(1)} s) | ssh ${ssh(sshOut)}`,
  );
  console.log(`  peak RSS of the CLI: vm cp in ${mib(cpIn.rss)}, out ${mib(cpOut.rss)}`);
  console.log(`  daemon peak RSS: ${mib(before)} before the copies, ${mib(after)} after both`);
} finally {
  spawnSync("ip", ["netns", "exec", ns, process.execPath, banger, "vm", "delete", "--force", "bench"], {
    env,
  });
  box.cleanup();
  spawnSync("ip", ["netns", "del", ns]);
}
