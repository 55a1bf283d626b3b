/**
 * The real firewall verbs with real nft, in network namespaces this file
 * creates and deletes: a "host" namespace with a bridge, three "guest"
 * namespaces joined by veths named like the bridge's TAPs, a dummy "LAN"
 * interface with 169.254.169.254, and a "world" namespace behind a veth with
 * web servers on TEST-NET addresses. Probes run inside the guest namespaces
 * and print what they saw. Everything runs with bridge-nf-call-iptables 1
 * and 0.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type HelperContext, trustedRun } from "../../src/helper/context.js";
import type { FirewallSpec, FirewallStatus } from "../../src/helper/protocol.js";
import { applyChecked, checkSpecLinks, firewallVerbs } from "../../src/helper/verbs/firewall.js";
import { repoRoot } from "../helpers/repoRoot.js";
import type { Listener, Probe } from "./firewallProbe.js";

const sfx = randomBytes(3).toString("hex");
const H = `bgfw-h-${sfx}`;
const W = `bgfw-w-${sfx}`;
const G = [0, 1, 2].map((i) => `bgfw-g${i}-${sfx}`);
const BR = `bgf${sfx}`;
const TAP = [0, 1, 2].map((i) => `${BR}t${i}`);
const GW = "172.31.50.1";
const IP = ["172.31.50.2", "172.31.50.3", "172.31.50.4"];
const MAC = ["06:aa:00:00:00:02", "06:aa:00:00:00:03", "06:aa:00:00:00:04"];
const DNS_PORT = 42053;
const PROBE = path.join(repoRoot(), "dist/test/integration/firewallProbe.js");

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (ip netns add)";
  for (const t of [
    ["nft", "--version"],
    ["ping", "-V"],
    ["conntrack", "--version"],
  ]) {
    if (spawnSync(t[0] as string, t.slice(1)).status !== 0) return `needs ${t[0]} (scripts/deps.sh)`;
  }
  return false;
}
const skip = skipReason();

function sh(...argv: string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}
const inNs = (ns: string, ...argv: string[]) => sh("ip", "netns", "exec", ns, ...argv);

const ctx: HelperContext = {
  uid: 0,
  gid: 0,
  vmmUid: 65534,
  vmmGid: 65534,
  run: (argv, opts) => trustedRun(["ip", "netns", "exec", H, ...argv], opts),
};

const children: ChildProcess[] = [];
function serve(ns: string, list: Listener[]): Promise<void> {
  const c = spawn("ip", ["netns", "exec", ns, process.execPath, PROBE, "serve", JSON.stringify(list)]);
  children.push(c);
  return new Promise((resolve, reject) => {
    c.stdout.once("data", () => resolve());
    c.once("exit", (code) => reject(new Error(`canaries in ${ns} exited ${code}`)));
  });
}

function probe(ns: string, list: Probe[]): string[] {
  const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, PROBE, "probe", JSON.stringify(list)], {
    encoding: "utf8",
  });
  const out = JSON.parse(r.stdout) as string[];
  console.log(
    `# ${ns}: ${list.map((p, i) => `${p.proto} ${p.host}:${p.port}${p.from ? ` from ${p.from}` : ""} -> ${out[i]}`).join("; ")}`,
  );
  return out;
}

function ping(ns: string, ip: string): string {
  const r = spawnSync("ip", ["netns", "exec", ns, "ping", "-c", "1", "-W", "1", ip], { encoding: "utf8" });
  const saw = r.status === 0 ? "reply" : "no-reply";
  console.log(`# ${ns}: ping ${ip} -> ${saw}`);
  return saw;
}

const tcp = (host: string, port: number, from?: string): Probe => ({
  proto: "tcp",
  host,
  port,
  ...(from ? { from } : {}),
});
const udp = (host: string, port: number, from?: string): Probe => ({
  proto: "udp",
  host,
  port,
  ...(from ? { from } : {}),
});
const BLOCKED = /^(timeout|error:E(HOSTUNREACH|NETUNREACH|ADDRNOTAVAIL))$/;

function spec(over: Partial<FirewallSpec> = {}, vms = baseVms()): FirewallSpec {
  return { bridge: BR, subnet: "172.31.50.0/24", gateway: GW, dnsPort: DNS_PORT, nat: true, vms, ...over };
}
function baseVms(): FirewallSpec["vms"] {
  return [
    {
      tap: TAP[0] as string,
      mac: MAC[0] as string,
      ip: IP[0] as string,
      egress: "public",
      peers: [],
      allowed: [],
    },
    {
      tap: TAP[1] as string,
      mac: MAC[1] as string,
      ip: IP[1] as string,
      egress: "allow",
      peers: [],
      allowed: [{ ip: "203.0.113.10", ttlS: 120 }],
    },
  ];
}

function topology(): void {
  for (const ns of [H, W, ...G]) sh("ip", "netns", "add", ns);
  inNs(H, "ip", "link", "add", BR, "type", "bridge");
  inNs(H, "ip", "addr", "add", `${GW}/24`, "dev", BR);
  inNs(H, "ip", "addr", "add", "fd00:50::1/64", "dev", BR, "nodad");
  inNs(H, "ip", "link", "set", BR, "up");
  inNs(H, "ip", "link", "set", "lo", "up");
  inNs(H, "sysctl", "-qw", "net.ipv4.ip_forward=1");
  G.forEach((g, i) => {
    sh("ip", "-n", H, "link", "add", TAP[i] as string, "type", "veth", "peer", "name", "eth0", "netns", g);
    inNs(H, "ip", "link", "set", TAP[i] as string, "master", BR, "up");
    inNs(g, "ip", "link", "set", "eth0", "address", MAC[i] as string, "up");
    inNs(g, "ip", "link", "set", "lo", "up");
    inNs(g, "ip", "addr", "add", `${IP[i]}/24`, "dev", "eth0");
    inNs(g, "ip", "addr", "add", `fd00:50::${i + 2}/64`, "dev", "eth0", "nodad");
    inNs(g, "ip", "route", "add", "default", "via", GW);
  });
  // The host's "LAN" interface (a veth pair: this kernel has no dummy links).
  inNs(H, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p");
  inNs(H, "ip", "addr", "add", "192.168.77.1/24", "dev", "lan0");
  inNs(H, "ip", "addr", "add", "169.254.169.254/32", "dev", "lan0");
  inNs(H, "ip", "link", "set", "lan0", "up");
  inNs(H, "ip", "link", "set", "lan0p", "up");
  sh("ip", "-n", H, "link", "add", "up0", "type", "veth", "peer", "name", "up0", "netns", W);
  inNs(H, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0");
  inNs(H, "ip", "link", "set", "up0", "up");
  inNs(W, "ip", "addr", "add", "198.51.100.2/24", "dev", "up0");
  inNs(W, "ip", "link", "set", "up0", "up");
  inNs(W, "ip", "link", "set", "lo", "up");
  for (const a of ["203.0.113.10/32", "203.0.113.11/32", "10.9.9.9/32"])
    inNs(W, "ip", "addr", "add", a, "dev", "lo");
  inNs(H, "ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.2");
  inNs(H, "ip", "route", "add", "10.9.9.0/24", "via", "198.51.100.2");
}

async function canaries(): Promise<void> {
  await serve(H, [
    { proto: "tcp", host: GW, port: 2222, label: "gw-tcp" },
    { proto: "udp", host: GW, port: 2223, label: "gw-udp" },
    { proto: "udp", host: GW, port: DNS_PORT, label: "resolver" },
    { proto: "tcp", host: GW, port: DNS_PORT, label: "resolver" },
    { proto: "tcp", host: "192.168.77.1", port: 80, label: "lan" },
    { proto: "tcp", host: "169.254.169.254", port: 80, label: "metadata" },
    { proto: "tcp", host: "fd00:50::1", port: 2225, label: "gw-v6" },
  ]);
  await serve(W, [
    { proto: "tcp", host: "203.0.113.10", port: 80, label: "web10" },
    { proto: "tcp", host: "203.0.113.10", port: 853, label: "dot10" },
    { proto: "udp", host: "203.0.113.10", port: 53, label: "dns10" },
    { proto: "tcp", host: "203.0.113.11", port: 80, label: "web11" },
    { proto: "tcp", host: "10.9.9.9", port: 80, label: "lan-remote" },
  ]);
  await serve(G[1] as string, [{ proto: "tcp", host: "0.0.0.0", port: 7000, label: "g1" }]);
}

function cleanup(): void {
  for (const c of children) c.kill("SIGKILL");
  for (const ns of [H, W, ...G]) spawnSync("ip", ["netns", "del", ns]);
}

for (const brNf of [1, 0]) {
  describe(`firewall verbs with real nft (bridge-nf-call-iptables=${brNf})`, { skip }, () => {
    before(async () => {
      topology();
      inNs(H, "sysctl", "-qw", `net.bridge.bridge-nf-call-iptables=${brNf}`);
      await canaries();
    });
    after(cleanup);

    it("refuses TAPs that are not the caller's", async () => {
      const tun = `${BR}t9`;
      inNs(H, "ip", "link", "set", "dev", BR, "alias", "banger:uid=0");
      inNs(H, "ip", "tuntap", "add", "dev", tun, "mode", "tap", "user", "4242");
      const vm = (tap: string) => [
        { tap, mac: MAC[0] as string, ip: IP[0] as string, egress: "none" as const, peers: [], allowed: [] },
      ];
      await assert.rejects(checkSpecLinks(ctx, spec({}, vm(tun))), /not one of uid 0's TAPs \(owner 4242\)/);
      await assert.rejects(checkSpecLinks(ctx, spec({}, vm(TAP[0] as string))), /is not a TAP/);
      await assert.rejects(checkSpecLinks(ctx, spec({}, vm(`${BR}t8`))), /does not exist/);
      inNs(H, "ip", "link", "del", tun);
      inNs(H, "ip", "tuntap", "add", "dev", tun, "mode", "tap", "user", "65534");
      // The caller's VMM uid owns it, but banger's marker for this uid is missing: still not the caller's.
      await assert.rejects(checkSpecLinks(ctx, spec({}, vm(tun))), /not one of uid 0's TAPs/);
      inNs(H, "ip", "link", "set", "dev", tun, "alias", "banger:uid=0");
      inNs(H, "ip", "link", "set", "dev", BR, "alias", "banger:uid=7");
      await assert.rejects(checkSpecLinks(ctx, spec({}, vm(tun))), /was not made by banger for uid 0/);
      inNs(H, "ip", "link", "set", "dev", BR, "alias", "banger:uid=0");
      await checkSpecLinks(ctx, spec({}, vm(tun)));
      inNs(H, "ip", "link", "del", tun);
    });

    it("by default a guest reaches only the resolver on the gateway, and public egress", async () => {
      await applyChecked(ctx, spec());
      const g0 = probe(G[0] as string, [
        tcp(GW, 2222),
        udp(GW, 2223),
        udp(GW, 53),
        tcp(GW, 53),
        udp(GW, DNS_PORT),
        tcp("192.168.77.1", 80),
        tcp("169.254.169.254", 80),
        tcp("203.0.113.10", 80),
        tcp("10.9.9.9", 80),
        tcp(IP[1] as string, 7000),
        tcp("fd00:50::1", 2225),
      ]);
      assert.match(g0[0] as string, BLOCKED, "gateway tcp canary");
      assert.match(g0[1] as string, BLOCKED, "gateway udp canary");
      assert.equal(g0[2], "canary:resolver", "udp 53 redirected to the resolver");
      assert.equal(g0[3], "canary:resolver", "tcp 53 redirected to the resolver");
      assert.match(g0[4] as string, BLOCKED, "the resolver's own port directly");
      assert.match(g0[5] as string, BLOCKED, "LAN address");
      assert.match(g0[6] as string, BLOCKED, "metadata address");
      assert.equal(g0[7], "canary:web10", "public egress");
      assert.match(g0[8] as string, BLOCKED, "private address beyond the host");
      assert.match(g0[9] as string, BLOCKED, "other guest");
      assert.match(g0[10] as string, BLOCKED, "IPv6 to the gateway");
      assert.equal(ping(G[0] as string, IP[1] as string), "no-reply");
      assert.equal(ping(G[0] as string, GW), "no-reply");
    });

    it("allow mode reaches only its set, never another DNS server or port 853", () => {
      const g1 = probe(G[1] as string, [
        tcp("203.0.113.10", 80),
        tcp("203.0.113.11", 80),
        tcp("203.0.113.10", 853),
        udp("203.0.113.10", 53),
        udp(GW, 53),
      ]);
      assert.deepEqual(
        g1.map((s) => (BLOCKED.test(s) ? "blocked" : s)),
        ["canary:web10", "blocked", "blocked", "blocked", "canary:resolver"],
      );
    });

    it("drops spoofed source addresses and MACs, and every frame of a TAP not in the spec", () => {
      inNs(G[0] as string, "ip", "addr", "add", "172.31.50.99/24", "dev", "eth0");
      const spoofIp = probe(G[0] as string, [
        tcp("203.0.113.10", 80, "172.31.50.99"),
        udp(GW, 53, "172.31.50.99"),
      ]);
      inNs(G[0] as string, "ip", "addr", "del", "172.31.50.99/24", "dev", "eth0");
      assert.ok(
        spoofIp.every((s) => BLOCKED.test(s)),
        `spoofed IP: ${spoofIp}`,
      );
      inNs(G[0] as string, "ip", "link", "set", "eth0", "address", "06:aa:00:00:00:99");
      const spoofMac = probe(G[0] as string, [tcp("203.0.113.10", 80), udp(GW, 53)]);
      inNs(G[0] as string, "ip", "link", "set", "eth0", "address", MAC[0] as string);
      assert.ok(
        spoofMac.every((s) => BLOCKED.test(s)),
        `spoofed MAC: ${spoofMac}`,
      );
      const pool = probe(G[2] as string, [udp(GW, 53), tcp("203.0.113.10", 80)]);
      assert.ok(
        pool.every((s) => BLOCKED.test(s)),
        `pool TAP: ${pool}`,
      );
    });

    it("peers reach each other; a runtime change takes effect; status shows drops and the allow set", async () => {
      const vms = baseVms();
      (vms[0] as FirewallSpec["vms"][0]).peers = [IP[1] as string];
      await applyChecked(ctx, spec({}, vms));
      assert.equal(probe(G[0] as string, [tcp(IP[1] as string, 7000)])[0], "canary:g1");
      assert.equal(ping(G[0] as string, IP[1] as string), "reply");
      const live = probe(G[0] as string, [tcp("203.0.113.10", 80)]);
      assert.equal(live[0], "canary:web10");
      const flushed = (await firewallVerbs["conntrack.flush"](ctx, { ip: IP[0] })) as { flushed: number };
      assert.ok(flushed.flushed >= 1, `flushed ${flushed.flushed}`);
      (vms[0] as FirewallSpec["vms"][0]).egress = "none";
      await applyChecked(ctx, spec({}, vms));
      assert.match(probe(G[0] as string, [tcp("203.0.113.10", 80)])[0] as string, BLOCKED);
      await firewallVerbs["firewall.allow"](ctx, { vmIp: IP[1], add: [{ ip: "203.0.113.11", ttlS: 90 }] });
      assert.equal(probe(G[1] as string, [tcp("203.0.113.11", 80)])[0], "canary:web11");
      const st = (await firewallVerbs["firewall.status"](ctx, {})) as FirewallStatus;
      console.log(`# status: ${JSON.stringify(st.vms)}`);
      const s0 = st.vms.find((v) => v.ip === IP[0]);
      const s1 = st.vms.find((v) => v.ip === IP[1]);
      assert.ok(
        s0 && s0.dropped.packets > 0 && s0.spoofDropped.packets > 0,
        "G0 counters kept across applies",
      );
      assert.deepEqual(s1?.allowed.map((a) => a.ip).sort(), ["203.0.113.10", "203.0.113.11"]);
      assert.ok(s1?.allowed.every((a) => a.expiresS !== null && a.expiresS > 0 && a.expiresS <= 120));
      await assert.rejects(firewallVerbs["conntrack.flush"](ctx, { ip: "172.31.50.77" }), /not a VM/);
    });

    it("with nat off nothing leaves, DNS still works; remove leaves nothing", async () => {
      await applyChecked(ctx, spec({ nat: false }));
      const g = probe(G[0] as string, [tcp("203.0.113.10", 80), udp(GW, 53)]);
      assert.match(g[0] as string, BLOCKED);
      assert.equal(g[1], "canary:resolver");
      await firewallVerbs["firewall.remove"](ctx, {});
      const r = await ctx.run(["nft", "list", "tables"]);
      assert.doesNotMatch(r.stdout, /banger_u0/);
    });
  });
}
