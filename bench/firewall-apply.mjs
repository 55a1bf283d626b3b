#!/usr/bin/env node
// Benchmark: the time the VM firewall adds to `vm start` — the start step
// "firewall" is one firewall.apply through the long-lived privileged helper
// (validate, ownership check, host addresses, counters carried over, one
// `nft -f -` transaction, port isolation). Measured with the real helper
// process and real nft in a throwaway network namespace holding a bridge and
// real TAPs, for 1, 8 and 32 running VMs. Goal: median <= 20 ms.
// Needs root (ip netns), nft and the built tree (`npm run build`).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "./lib.mjs";

const RUNS = 15;
const GOAL_MS = 20;
if (process.getuid?.() !== 0 || spawnSync("nft", ["--version"]).status !== 0) {
  console.log("firewall-apply: skipped (needs root and nft)");
  process.exit(0);
}
const { HelperClient } = await import(
  pathToFileURL(path.join(root, "dist/src/host/helper/HelperClient.js")).href
);

const sfx = randomBytes(3).toString("hex");
const NS = `bgbench-fw-${sfx}`;
const BR = `bgr${sfx}`;
const inNs = (...a) => {
  const r = spawnSync("ip", ["netns", "exec", NS, ...a], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${a.join(" ")}: ${r.stderr}`);
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
spawnSync("ip", ["netns", "add", NS]);
const helper = new HelperClient({
  command: ["ip", "netns", "exec", NS, process.execPath, path.join(root, "dist/src/helper/main.js")],
});
try {
  // The bridge and TAPs as banger makes them: through the helper, marked for this uid.
  await helper.call("bridge.ensure", { bridge: BR, cidr: "172.30.0.0/24" });
  const vms = [];
  for (let i = 0; i < 32; i++) {
    const tap = `${BR}t${i}`;
    await helper.call("tap.create", { tap, bridge: BR });
    const ip = `172.30.0.${i + 2}`;
    const mac = `06:00:00:00:00:${(i + 2).toString(16).padStart(2, "0")}`;
    const egress = ["public", "allow", "none"][i % 3];
    vms.push({
      tap,
      mac,
      ip,
      egress,
      peers: [],
      allowed: egress === "allow" ? [{ ip: "203.0.113.7", ttlS: 300 }] : [],
    });
  }
  const base = { bridge: BR, subnet: "172.30.0.0/24", gateway: "172.30.0.1", dnsPort: 42053, nat: true };
  await helper.call("hello", {});
  console.log("firewall apply (what the start step `firewall` adds to vm start):");
  for (const n of [1, 8, 32]) {
    const spec = { ...base, vms: vms.slice(0, n) };
    const times = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await helper.call("firewall.apply", { spec });
      times.push(performance.now() - t0);
    }
    const m = median(times);
    const ok = m <= GOAL_MS;
    console.log(
      `  ${String(n).padStart(2)} VM(s): median ${m.toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms${n === 1 ? ` (goal <= ${GOAL_MS} ms: ${ok ? "met" : "MISSED"})` : ""}`,
    );
  }
  const t0 = performance.now();
  await helper.call("firewall.allow", { vmIp: "172.30.0.3", add: [{ ip: "203.0.113.8", ttlS: 60 }] });
  console.log(`  one answered address into an allow set: ${(performance.now() - t0).toFixed(1)} ms`);
  await helper.call("firewall.remove", {});
} finally {
  helper.close();
  spawnSync("ip", ["netns", "del", NS]);
}
