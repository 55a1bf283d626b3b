#!/usr/bin/env node
// Benchmark: an exec round trip (`true` in a running guest) through the SDK
// and through the CLI (`banger vm exec NAME -- true`), next to the daemon's
// own time for the same call (agent round trip + the guest's work, from the
// daemon's debug log). Prints medians of 20 and the SDK's overhead on top of
// the daemon/guest part (goal: under 20 ms).
// Needs root, qemu, the built tree and the test guest (cached in
// /var/cache/banger-test). The daemon and the VM live in a network namespace
// made here and deleted after.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { banger, benchSandbox, root } from "./lib.mjs";

const RUNS = 20;
const imp = (p) => import(pathToFileURL(path.join(root, p)).href);
const { ensureTestGuest } = await imp("dist/test/guest/testGuest.js");
const { Banger } = await imp("dist/src/sdk/index.js");
const guest = await ensureTestGuest();
const box = benchSandbox("bgbench-exec-");
const ns = `bgbench-exec-${process.pid}`;
const sh = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { env: box.env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};
const inNs = (args) => sh(["ip", "netns", "exec", ns, process.execPath, banger, ...args]);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

sh(["ip", "netns", "add", ns]);
let b;
try {
  sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
  const cfg = path.join(box.env.HOME, ".config", "banger");
  sh(["mkdir", "-p", cfg]);
  sh([
    "sh",
    "-c",
    `printf '%s\\n' 'vmm = "qemu"' 'log_level = "debug"' 'default_image_name = "tiny"' '[vm_defaults]' 'vcpu = 1' 'memory = "512M"' 'disk_size = "1G"' > "$1"`,
    "sh",
    path.join(cfg, "config.toml"),
  ]);
  inNs([
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
  inNs(["vm", "create", "--name", "bench"]);
  b = await Banger.connect({ socket: path.join(box.env.XDG_RUNTIME_DIR, "banger", "bangerd.sock") });
  const vm = await b.vms.get("bench");
  await vm.ready({ timeoutMs: 300_000 });
  for (let i = 0; i < 3; i++) await vm.exec(["true"]);
  const sdk = [];
  const cli = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = process.hrtime.bigint();
    const r = await vm.exec(["true"]);
    sdk.push(ms(t0));
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
    t0 = process.hrtime.bigint();
    sh([process.execPath, banger, "vm", "exec", "bench", "--", "true"]);
    cli.push(ms(t0));
  }
  const daemon = readFileSync(b.daemon.logPath, "utf8")
    .split("\n")
    .filter((l) => l.includes('"method":"vm.exec"'))
    .map((l) => JSON.parse(l).ms)
    .slice(-2 * RUNS);
  // The calls alternate SDK, CLI: the daemon's time of each is paired with its client's.
  const dSdk = daemon.filter((_, i) => i % 2 === 0);
  const dCli = daemon.filter((_, i) => i % 2 === 1);
  const overSdk = median(sdk.map((x, i) => x - dSdk[i]));
  const overCli = median(cli.map((x, i) => x - dCli[i]));
  console.log(
    `exec round trip of \`true\` (medians of ${RUNS}): SDK ${median(sdk).toFixed(1)} ms, CLI ${median(cli).toFixed(1)} ms, ` +
      `daemon+agent+guest ${median(daemon).toFixed(1)} ms; on top of it: SDK ${overSdk.toFixed(1)} ms (goal < 20 ms), CLI ${overCli.toFixed(1)} ms`,
  );
} finally {
  b?.close();
  try {
    inNs(["vm", "delete", "--force", "bench"]);
  } catch {
    /* not created */
  }
  spawnSync("ip", ["netns", "exec", ns, process.execPath, banger, "daemon", "stop"], { env: box.env });
  box.cleanup();
  spawnSync("ip", ["netns", "del", ns]);
}
