/**
 * Isolation end to end (issue 10): two real guests under QEMU (TCG here) in a
 * network namespace this test makes, with a fake internet behind a veth (web
 * servers and an upstream DNS server on TEST-NET addresses), canaries on
 * every host address (gateway, a "LAN" address, 169.254.169.254). Probes run
 * inside the guests through the agent (`vm exec`) and print what they saw;
 * a probe that could not run is an error, never "blocked".
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmEgressView, VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
const PROBE = path.join(repoRoot(), "dist/test/integration/firewallProbe.js");
const W = `bgisw-${process.pid}-${randomBytes(2).toString("hex")}`;
/** Root's default subnet is 172.30.<uid % 256>.0/24 (bridge bgr<uid>): the tests run as root. */
const GW = "172.30.0.1";
let t: NsSandbox;
let guest: TestGuest;
const children: ChildProcess[] = [];

function sh(...argv: string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

function background(ns: string, mode: string, arg: unknown): Promise<void> {
  const c = spawn("ip", ["netns", "exec", ns, process.execPath, PROBE, mode, JSON.stringify(arg)], {
    env: process.env,
  });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.stdout.once("data", () => resolve());
    c.once("exit", (code) => reject(new Error(`${mode} in ${ns} exited ${code}`)));
  });
}

/** The fake internet, the LAN address and the canaries. */
async function world(ns: string): Promise<void> {
  const inH = (...a: string[]) => sh("ip", "netns", "exec", ns, ...a);
  const inW = (...a: string[]) => sh("ip", "netns", "exec", W, ...a);
  sh("ip", "netns", "add", W);
  inH("sysctl", "-qw", "net.ipv4.ip_forward=1");
  sh("ip", "-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "up0", "netns", W);
  inH("ip", "addr", "add", "198.51.100.1/24", "dev", "up0");
  inH("ip", "link", "set", "up0", "up");
  inW("ip", "addr", "add", "198.51.100.2/24", "dev", "up0");
  inW("ip", "link", "set", "up0", "up");
  inW("ip", "link", "set", "lo", "up");
  for (const a of ["203.0.113.10/32", "203.0.113.11/32"]) inW("ip", "addr", "add", a, "dev", "lo");
  inH("ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.2");
  inH("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p");
  inH("ip", "addr", "add", "192.168.77.1/24", "dev", "lan0");
  inH("ip", "addr", "add", "169.254.169.254/32", "dev", "lan0");
  inH("ip", "link", "set", "lan0", "up");
  inH("ip", "link", "set", "lan0p", "up");
  await background(ns, "serve", [
    { proto: "tcp", host: "0.0.0.0", port: 2222, label: "host" },
    { proto: "tcp", host: "0.0.0.0", port: 80, label: "host80" },
  ]);
  await background(W, "serve", [
    { proto: "tcp", host: "203.0.113.10", port: 80, label: "web10" },
    { proto: "tcp", host: "203.0.113.10", port: 853, label: "dot10" },
    { proto: "tcp", host: "203.0.113.11", port: 80, label: "web11" },
  ]);
  const zone = { "ok.test": "203.0.113.10", "other.test": "203.0.113.11" };
  await background(W, "dns", { host: "198.51.100.2", port: 53, zone });
  await background(W, "dns", { host: "203.0.113.10", port: 53, zone });
}

type Seen = Record<string, string>;

/** Run named probes in a guest in parallel; each prints `PROBE name rc=N out=...`. */
async function probe(vm: string, probes: Record<string, string>): Promise<Seen> {
  const lines = Object.entries(probes).map(
    ([name, cmd]) =>
      `( out=$(timeout 8 ${cmd} 2>&1 </dev/null); echo "PROBE ${name} rc=$? out=$(echo "$out" | tr '\\n' ' ')" ) &`,
  );
  const r = await t.cli(["vm", "exec", vm, "--", "sh", "-c", `${lines.join("\n")}\nwait`]);
  const seen: Seen = {};
  for (const m of r.stdout.matchAll(/^PROBE (\S+) rc=(\d+) out=(.*)$/gm))
    seen[m[1] as string] = `rc=${m[2]} ${m[3]}`;
  console.log(`# ${vm}: ${JSON.stringify(seen)}`);
  for (const name of Object.keys(probes))
    assert.ok(seen[name], `probe ${name} printed nothing:\n${r.stdout}${r.stderr}`);
  return seen;
}

/** What a probe saw: reached (the canary/answer), blocked (timed out), nxdomain, or the raw output. */
function verdict(s: string): string {
  if (/rc=127|not found|applet/.test(s) && !/can't find/.test(s)) return `could-not-run: ${s}`;
  if (/canary:(\w+)/.test(s)) return `reached:${/canary:(\w+)/.exec(s)?.[1]}`;
  if (/NXDOMAIN/.test(s)) return "nxdomain";
  if (/Address:\s*203\.0\.113\.\d+|Address:\s*172\.30\.0\.\d+/.test(s)) return "answered";
  if (/1 packets received/.test(s)) return "reached:ping";
  // "No route to host": the guest's ARP got no answer (dropped at layer 2).
  if (/timed out|No route to host|rc=124|rc=143|0 packets received|no servers could be reached/.test(s)) {
    return "blocked";
  }
  return `unknown: ${s}`;
}

const nc = (host: string, port: number) => `nc -w 4 ${host} ${port}`;

describe("isolation by default and per-VM egress", { skip }, () => {
  let a: VmView;
  let b: VmView;

  before(async () => {
    guest = await ensureTestGuest({ runner });
    const extra: Record<string, string> = process.env.NODE_OPTIONS
      ? { NODE_OPTIONS: process.env.NODE_OPTIONS }
      : {};
    t = await NsSandbox.create("bgiso", extra);
    t.sb.writeConfig(
      [
        'vmm = "qemu"',
        'default_image_name = "tiny"',
        "[network]",
        "nat = true",
        'upstream_dns = ["198.51.100.2"]',
        "tap_pool_size = 0",
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "384M"',
        'disk_size = "1G"',
        "",
      ].join("\n"),
    );
    await t.ok(registerArgs("tiny", guest));
    await world(t.ns);
    await t.ok(["vm", "create", "--name", "a"]);
    await t.ok(["vm", "create", "--name", "b", "--egress", "allow=ok.test"]);
    a = await t.json<VmView>(["vm", "show", "a"]);
    b = await t.json<VmView>(["vm", "show", "b"]);
    for (const n of ["a", "b"]) {
      await until(`${n} agent`, async () =>
        (await t.cli(["vm", "exec", n, "--", "true"])).code === 0 ? true : undefined,
      );
    }
  });

  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await t?.cleanup();
    spawnSync("ip", ["netns", "del", W]);
  });

  test("the policy shows in vm show and list --json", async () => {
    assert.equal(a.egress?.policy, "public");
    assert.equal(b.egress?.policy, "allow=ok.test");
    const list = await t.json<{ vms: VmView[] }>(["vm", "list"]);
    assert.deepEqual(list.vms.map((v) => v.egress?.policy).sort(), ["allow=ok.test", "public"]);
  });

  test("blocked by default: every host address, the metadata address, the other guest", async () => {
    const s = await probe("a", {
      gw: nc(GW, 2222),
      gw80: nc(GW, 80),
      lan: nc("192.168.77.1", 80),
      metadata: nc("169.254.169.254", 80),
      guestTcp: nc(b.ip as string, 22),
      guestPing: `ping -c 1 -W 3 ${b.ip}`,
      publicWeb: nc("203.0.113.10", 80),
      dns: "nslookup ok.test",
      vmName: "nslookup b.vm",
    });
    for (const k of ["gw", "gw80", "lan", "metadata", "guestTcp", "guestPing"]) {
      assert.equal(verdict(s[k] as string), "blocked", `${k}: ${s[k]}`);
    }
    assert.equal(verdict(s.publicWeb as string), "reached:web10", "public mode reaches the public test host");
    assert.equal(verdict(s.dns as string), "answered", `resolver through the gateway: ${s.dns}`);
    assert.match(s.vmName as string, new RegExp(`Address:\\s*${(b.ip as string).replaceAll(".", "\\.")}`));
  });

  test("allow mode: the allowed name works, others NXDOMAIN, bare IPs, other DNS servers and 853 blocked", async () => {
    const s1 = await probe("b", { ok: "nslookup ok.test", other: "nslookup other.test" });
    assert.equal(verdict(s1.ok as string), "answered", String(s1.ok));
    assert.equal(verdict(s1.other as string), "nxdomain", String(s1.other));
    const s2 = await probe("b", {
      allowed: nc("203.0.113.10", 80),
      bareIp: nc("203.0.113.11", 80),
      dot: nc("203.0.113.10", 853),
      otherDns: "nslookup ok.test 203.0.113.10",
    });
    assert.equal(verdict(s2.allowed as string), "reached:web10");
    for (const k of ["bareIp", "dot", "otherDns"])
      assert.equal(verdict(s2[k] as string), "blocked", `${k}: ${s2[k]}`);
    const shown = await t.json<VmEgressView>(["vm", "egress", "b"]);
    assert.deepEqual(
      shown.firewall?.allowed.map((x) => x.ip),
      ["203.0.113.10"],
    );
    assert.ok((shown.firewall?.allowed[0]?.expiresS ?? 0) > 0);
    assert.ok((shown.firewall?.dropped.packets ?? 0) > 0, "drop counters count");
  });

  test("spoofed source IP and MAC are dropped (with the gateway's MAC pinned, so no ARP is needed)", async () => {
    const brMac = (
      JSON.parse(t.inNs("ip", ["-j", "link", "show", `bgr${process.getuid?.() ?? 0}`])) as Array<{
        address: string;
      }>
    )[0]?.address;
    assert.ok(brMac, "the bridge's MAC");
    // A pin that fails exits 99: the probe then reads as an error, never as "blocked".
    const pin = `arp -i eth0 -s ${GW} ${brMac} || exit 99`;
    const restoreIp = `ip addr flush dev eth0; ip addr add ${a.ip}/24 dev eth0; ip route add default via ${GW}; arp -i eth0 -d ${GW}`;
    const spoofIp = `ip addr flush dev eth0; ip addr add 172.30.0.99/24 dev eth0; ip route add default via ${GW}; ${pin}; nc -w 4 203.0.113.10 80; r=$?; ${restoreIp}; exit $r`;
    // The kernel flushes neighbour entries when the MAC changes: pin after it.
    const spoofMac = `ip link set eth0 address 06:66:66:66:66:66; ${pin}; nc -w 4 203.0.113.10 80; r=$?; ip link set eth0 address ${a.mac}; arp -i eth0 -d ${GW}; exit $r`;
    const before = (await t.json<VmEgressView>(["vm", "egress", "a"])).firewall?.spoofDropped.packets ?? 0;
    const s = await probe("a", { spoofIp: `sh -c '${spoofIp}'` });
    const m = await probe("a", { spoofMac: `sh -c '${spoofMac}'` });
    assert.equal(verdict(s.spoofIp as string), "blocked", String(s.spoofIp));
    assert.equal(verdict(m.spoofMac as string), "blocked", String(m.spoofMac));
    const back = await probe("a", { again: nc("203.0.113.10", 80) });
    assert.equal(
      verdict(back.again as string),
      "reached:web10",
      "the probe restored the guest's own address",
    );
    const after = (await t.json<VmEgressView>(["vm", "egress", "a"])).firewall?.spoofDropped.packets ?? 0;
    assert.ok(after > before, `anti-spoofing counted the frames (${before} -> ${after})`);
  });

  test("a runtime change takes effect without a restart", async () => {
    const changed = await t.json<VmEgressView>(["vm", "egress", "a", "none"]);
    assert.equal(changed.egress.policy, "none");
    const s = await probe("a", { web: nc("203.0.113.10", 80), dns: "nslookup ok.test", vm: "nslookup b.vm" });
    assert.equal(verdict(s.web as string), "blocked");
    assert.equal(verdict(s.dns as string), "nxdomain");
    assert.equal(verdict(s.vm as string), "answered", ".vm names keep working in every mode");
    const peered = await t.json<VmEgressView>(["vm", "egress", "a", "--peer", "b"]);
    assert.deepEqual(peered.egress.peers, ["b"]);
    const p = await probe("a", { ping: `ping -c 1 -W 3 ${b.ip}` });
    assert.equal(verdict(p.ping as string), "reached:ping", "peers reach each other");
  });

  test("nothing is left after delete", async () => {
    await t.ok(["vm", "delete", "--force", "a"]);
    await t.ok(["vm", "delete", "--force", "b"]);
    const tables = t.inNs("nft", ["list", "tables"]);
    assert.doesNotMatch(tables, /banger_u/, tables);
  });
});
