/**
 * The nftables script of one user's VM network (see the isolation issue),
 * built from a validated FirewallSpec. Pure. Two tables, replaced in one
 * `nft -f -` transaction:
 *
 *  bridge banger_u<uid> (stateless: no bridge conntrack, meta or reject here)
 *    prerouting -300: per TAP, source MAC, ARP sender (MAC, IP) and IPv4
 *      source must be the VM's; every other ethertype (IPv6 included) is
 *      dropped; frames from any other TAP of this bridge's scheme (pool TAPs)
 *      are dropped. It runs before br_netfilter hands frames to the IP hooks.
 *    forward -200: guest-to-guest frames dropped unless the pair are peers.
 *  inet banger_u<uid>
 *    dns_redirect: the gateway's port 53 (UDP, TCP) -> the daemon's resolver.
 *    guest_input: from the subnet, only replies (ct established) and
 *      connections whose original destination port was 53 on the gateway.
 *    guest_forward: per VM egress policy (public / allow / none); replies in.
 *    masquerade: the subnet's egress, when nat.
 * Guests are matched by their (anti-spoofed) source address, never by
 * iifname, so the rules mean the same with bridge-nf-call-iptables 0 or 1.
 */

import type { FirewallSpec, FirewallVm } from "./protocol.js";
import { nftTableName } from "./protocol.js";

/** Destinations egress "public" (and "allow") never reaches; TEST-NET ranges are deliberately absent. */
export const NON_PUBLIC_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "224.0.0.0/4",
  "240.0.0.0/4",
] as const;

/** Ports an "allow" VM never reaches outside: DNS (only banger's resolver) and DNS over TLS. */
export const ALLOW_MODE_BLOCKED_PORTS = [53, 853] as const;

/** Port isolation is off only for TAPs that have peers. */
export function isolatedTaps(spec: FirewallSpec): Array<{ tap: string; isolated: boolean }> {
  const pairs = peerPairs(spec);
  const withPeers = new Set(pairs.flatMap(([a, b]) => [a.tap, b.tap]));
  return spec.vms.map((v) => ({ tap: v.tap, isolated: !withPeers.has(v.tap) }));
}

/** The one set/counter suffix of a VM: its address with `_` (stable across re-applies). */
export function vmKey(ip: string): string {
  return ip.replaceAll(".", "_");
}

export const allowSetName = (ip: string): string => `allow_${vmKey(ip)}`;
export const dropCounterName = (ip: string): string => `drop_${vmKey(ip)}`;
export const spoofCounterName = (ip: string): string => `spoof_${vmKey(ip)}`;

/** The TAP name prefix of a bridge (the daemon's scheme: first 9 characters, then "t"). */
export function tapPrefixOf(bridge: string): string {
  return `${bridge.slice(0, 9)}t`;
}

/** Unordered peer pairs (a peer in either VM's list counts for both directions). */
export function peerPairs(spec: FirewallSpec): Array<[FirewallVm, FirewallVm]> {
  const byIp = new Map(spec.vms.map((v) => [v.ip, v]));
  const seen = new Set<string>();
  const out: Array<[FirewallVm, FirewallVm]> = [];
  for (const a of spec.vms) {
    for (const p of a.peers) {
      const b = byIp.get(p);
      if (!b) continue;
      const key = [a.ip, b.ip].sort().join("-");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push([a, b]);
    }
  }
  return out;
}

/** Counter values carried over from the previous tables (name -> packets, bytes). */
export type CounterValues = ReadonlyMap<string, { packets: number; bytes: number }>;

export interface BuildOptions {
  uid: number;
  /** The host's own IPv4 addresses (never reached by egress). */
  hostAddrs: readonly string[];
  /** Counters to keep across the replace. */
  counters?: CounterValues;
}

const q = (s: string): string => `"${s}"`;

function counterDecl(name: string, counters: CounterValues | undefined): string {
  const c = counters?.get(name);
  return c ? `  counter ${name} { packets ${c.packets} bytes ${c.bytes} }` : `  counter ${name} { }`;
}

function bridgeTable(spec: FirewallSpec, o: BuildOptions): string[] {
  const name = nftTableName(o.uid);
  const taps = spec.vms.map((v) => q(v.tap));
  const L = [`table bridge ${name} {`];
  for (const v of spec.vms) L.push(counterDecl(spoofCounterName(v.ip), o.counters));
  for (const v of spec.vms) {
    const c = `counter name ${q(spoofCounterName(v.ip))} drop`;
    L.push(
      `  chain tap_${vmKey(v.ip)} {`,
      `    ether saddr != ${v.mac} ${c}`,
      `    ether type arp arp saddr ether != ${v.mac} ${c}`,
      `    ether type arp arp saddr ip != ${v.ip} ${c}`,
      `    ether type ip ip saddr != ${v.ip} ${c}`,
      `    ether type != { ip, arp } ${c}`,
      "    accept",
      "  }",
    );
  }
  L.push("  chain guest_prerouting {", "    type filter hook prerouting priority -300; policy accept;");
  if (spec.vms.length > 0) {
    L.push(`    iifname vmap { ${spec.vms.map((v) => `${q(v.tap)} : jump tap_${vmKey(v.ip)}`).join(", ")} }`);
  }
  L.push(`    iifname ${q(`${tapPrefixOf(spec.bridge)}*`)} drop`, "  }");
  L.push("  chain guest_forward {", "    type filter hook forward priority -200; policy accept;");
  for (const [a, b] of peerPairs(spec)) {
    L.push(
      `    iifname ${q(a.tap)} oifname ${q(b.tap)} accept`,
      `    iifname ${q(b.tap)} oifname ${q(a.tap)} accept`,
    );
  }
  if (taps.length > 0)
    L.push(`    iifname { ${taps.join(", ")} } oifname ${q(`${tapPrefixOf(spec.bridge)}*`)} drop`);
  L.push("  }", "}");
  return L;
}

function egressRules(spec: FirewallSpec, v: FirewallVm): string[] {
  const drop = `counter name ${q(dropCounterName(v.ip))} drop`;
  if (!spec.nat || v.egress === "none") return [];
  if (v.egress === "public") return [`    ip daddr @non_public ${drop}`, "    accept"];
  return [
    `    meta l4proto { tcp, udp } th dport { ${ALLOW_MODE_BLOCKED_PORTS.join(", ")} } ${drop}`,
    `    ip daddr != @${allowSetName(v.ip)} ${drop}`,
    `    ip daddr @non_public ${drop}`,
    "    accept",
  ];
}

function vmChain(spec: FirewallSpec, v: FirewallVm): string[] {
  const peers = peerPairs(spec)
    .filter(([a, b]) => a.ip === v.ip || b.ip === v.ip)
    .map(([a, b]) => (a.ip === v.ip ? b.ip : a.ip));
  return [
    `  chain vm_${vmKey(v.ip)} {`,
    "    ct state established,related accept",
    ...(peers.length ? [`    ip daddr { ${peers.join(", ")} } accept`] : []),
    ...egressRules(spec, v),
    `    counter name ${q(dropCounterName(v.ip))} drop`,
    "  }",
  ];
}

function allowSet(v: FirewallVm): string[] {
  const head = `  set ${allowSetName(v.ip)} { type ipv4_addr; flags timeout;`;
  if (v.allowed.length === 0) return [`${head} }`];
  const elems = dedupeAllowed(v.allowed).map((a) => `${a.ip} timeout ${a.ttlS}s`);
  return [`${head} elements = { ${elems.join(", ")} }; }`];
}

/** One entry per address, the longest timeout kept. */
export function dedupeAllowed(
  list: ReadonlyArray<{ ip: string; ttlS: number }>,
): Array<{ ip: string; ttlS: number }> {
  const m = new Map<string, number>();
  for (const a of list) m.set(a.ip, Math.max(a.ttlS, m.get(a.ip) ?? 0));
  return [...m].map(([ip, ttlS]) => ({ ip, ttlS }));
}

function inetTable(spec: FirewallSpec, o: BuildOptions): string[] {
  const name = nftTableName(o.uid);
  const sub = spec.subnet;
  const blocked = [...NON_PUBLIC_RANGES, sub, ...o.hostAddrs];
  const L = [`table inet ${name} {`];
  L.push(
    `  set non_public { type ipv4_addr; flags interval; auto-merge; elements = { ${blocked.join(", ")} }; }`,
  );
  for (const v of spec.vms) L.push(counterDecl(dropCounterName(v.ip), o.counters));
  for (const v of spec.vms.filter((x) => x.egress === "allow")) L.push(...allowSet(v));
  for (const v of spec.vms) L.push(...vmChain(spec, v));
  L.push(
    "  chain dns_redirect {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    `    ip saddr ${sub} ip daddr ${spec.gateway} meta l4proto { tcp, udp } th dport 53 redirect to :${spec.dnsPort}`,
    "  }",
    "  chain guest_input {",
    "    type filter hook input priority filter; policy accept;",
    `    ip saddr ${sub} ct state established,related accept`,
    `    ip saddr ${sub} ip daddr ${spec.gateway} meta l4proto { tcp, udp } th dport ${spec.dnsPort} ct original proto-dst 53 accept`,
  );
  for (const v of spec.vms) L.push(`    ip saddr ${v.ip} counter name ${q(dropCounterName(v.ip))} drop`);
  L.push(`    ip saddr ${sub} drop`, "  }");
  L.push("  chain guest_forward {", "    type filter hook forward priority filter; policy accept;");
  if (spec.vms.length > 0) {
    L.push(`    ip saddr vmap { ${spec.vms.map((v) => `${v.ip} : jump vm_${vmKey(v.ip)}`).join(", ")} }`);
  }
  L.push(
    `    ip saddr ${sub} drop`,
    `    ip daddr ${sub} ct state established,related accept`,
    `    ip daddr ${sub} drop`,
    "  }",
  );
  if (spec.nat) {
    L.push(
      "  chain egress_nat {",
      "    type nat hook postrouting priority srcnat; policy accept;",
      `    ip saddr ${sub} ip daddr != ${sub} masquerade`,
      "  }",
    );
  }
  L.push("}");
  return L;
}

/** `add` then `delete`: the transaction prefix that succeeds whether or not the tables exist. */
export function dropTablesScript(uid: number): string {
  const n = nftTableName(uid);
  return `add table inet ${n}\ndelete table inet ${n}\nadd table bridge ${n}\ndelete table bridge ${n}\n`;
}

/** stdin for `nft -f -`: replace both of the user's tables in one transaction. */
export function buildFirewallScript(spec: FirewallSpec, o: BuildOptions): string {
  return `${dropTablesScript(o.uid)}${[...inetTable(spec, o), ...bridgeTable(spec, o)].join("\n")}\n`;
}

/** stdin for `nft -f -`: add answered addresses to one VM's allow set (existing ones get the new timeout). */
export function buildAllowScript(
  uid: number,
  vmIp: string,
  add: ReadonlyArray<{ ip: string; ttlS: number }>,
): string {
  const t = `inet ${nftTableName(uid)} ${allowSetName(vmIp)}`;
  const list = dedupeAllowed(add);
  const ips = list.map((a) => a.ip).join(", ");
  const elems = list.map((a) => `${a.ip} timeout ${a.ttlS}s`).join(", ");
  // Delete-then-add refreshes the timeout of an address already present.
  return `add element ${t} { ${ips} }\ndelete element ${t} { ${ips} }\nadd element ${t} { ${elems} }\n`;
}
