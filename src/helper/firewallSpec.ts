/**
 * Validation of a FirewallSpec as it arrives at the privileged helper
 * (unknown JSON): every field is checked, and an error names the field's
 * path (`spec.vms[1].mac`) and how to fix it. Pure; node: builtins only.
 */
import { isIPv4 } from "node:net";
import { HelperError } from "./context.js";
import { checkIfName } from "./owned.js";
import type { EgressMode, FirewallSpec, FirewallVm } from "./protocol.js";

export const EGRESS_MODES: readonly EgressMode[] = ["none", "public", "allow"];
/** More VMs than this in one user's network is refused (the TAP scheme allows 100 000; nft scripts stay small). */
export const MAX_FIREWALL_VMS = 4096;
/** An allow-set entry lives at most this long (one week), at least one second. */
export const MAX_ALLOW_TTL_S = 7 * 24 * 3600;
export const MAX_ALLOWED_PER_VM = 4096;

function bad(path: string, msg: string): never {
  throw new HelperError("INVALID_ARGUMENT", `${path}: ${msg}`);
}

function obj(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(path, "must be an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) bad(`${path}.${k}`, `unknown field (known: ${keys.join(", ")})`);
  }
  return o;
}

export function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, p) => a * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

export function checkIpv4(v: unknown, path: string): string {
  if (typeof v !== "string" || !isIPv4(v)) bad(path, `${JSON.stringify(v)} is not an IPv4 address`);
  return v;
}

export interface Cidr {
  base: number;
  prefix: number;
  text: string;
}

export function parseCidr(v: unknown, path: string): Cidr {
  const m = typeof v === "string" ? /^([0-9.]+)\/(\d{1,2})$/.exec(v) : null;
  const prefix = Number(m?.[2]);
  if (!m || !isIPv4(m[1] ?? "") || prefix < 8 || prefix > 30) {
    bad(path, `${JSON.stringify(v)} is not an IPv4 CIDR with a prefix from /8 to /30 (e.g. 172.30.0.0/24)`);
  }
  const base = ipToInt(m[1] as string);
  const size = 2 ** (32 - prefix);
  if (base % size !== 0)
    bad(path, `${v} has host bits set (the network is ${intToIp(base - (base % size))})`);
  return { base, prefix, text: v as string };
}

export function inCidr(ip: string, c: Cidr): boolean {
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + 2 ** (32 - c.prefix);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function checkMac(v: unknown, path: string): string {
  if (typeof v !== "string" || !MAC_RE.test(v)) {
    bad(path, `${JSON.stringify(v)} is not a MAC address in lower case (aa:bb:cc:dd:ee:ff)`);
  }
  if (Number.parseInt(v.slice(0, 2), 16) & 1) bad(path, `${v} is a multicast MAC; a VM needs a unicast one`);
  if (v === "00:00:00:00:00:00") bad(path, "the all-zero MAC is not a VM's address");
  return v;
}

function checkInt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    bad(path, `${JSON.stringify(v)} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function checkArray(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) bad(path, "must be an array");
  if (v.length > max) bad(path, `has ${v.length} entries, at most ${max} allowed`);
  return v;
}

function checkVmAddress(ip: string, path: string, net: Cidr, gateway: string): void {
  const n = ipToInt(ip);
  if (!inCidr(ip, net)) bad(path, `${ip} is outside the subnet ${net.text}`);
  if (ip === gateway) bad(path, `${ip} is the gateway (the bridge's address), not a VM's`);
  if (n === net.base || n === net.base + 2 ** (32 - net.prefix) - 1) {
    bad(path, `${ip} is the network or broadcast address of ${net.text}`);
  }
}

const VM_KEYS = ["tap", "mac", "ip", "egress", "peers", "allowed"] as const;

function checkVm(v: unknown, path: string, net: Cidr, gateway: string): FirewallVm {
  const o = obj(v, path, VM_KEYS);
  const tap = checkIfName(o.tap, `${path}.tap`);
  const mac = checkMac(o.mac, `${path}.mac`);
  const ip = checkIpv4(o.ip, `${path}.ip`);
  checkVmAddress(ip, `${path}.ip`, net, gateway);
  if (typeof o.egress !== "string" || !EGRESS_MODES.includes(o.egress as EgressMode)) {
    bad(`${path}.egress`, `${JSON.stringify(o.egress)} is not one of ${EGRESS_MODES.join(", ")}`);
  }
  const egress = o.egress as EgressMode;
  const peers = checkArray(o.peers, `${path}.peers`, MAX_FIREWALL_VMS).map((p, i) =>
    checkIpv4(p, `${path}.peers[${i}]`),
  );
  const allowed = checkArray(o.allowed, `${path}.allowed`, MAX_ALLOWED_PER_VM).map((a, i) =>
    checkAllowEntry(a, `${path}.allowed[${i}]`),
  );
  if (allowed.length > 0 && egress !== "allow") {
    bad(`${path}.allowed`, `must be empty unless egress is "allow" (it is "${egress}")`);
  }
  return { tap, mac, ip, egress, peers, allowed };
}

export function checkAllowEntry(v: unknown, path: string): { ip: string; ttlS: number } {
  const o = obj(v, path, ["ip", "ttlS"]);
  return { ip: checkIpv4(o.ip, `${path}.ip`), ttlS: checkInt(o.ttlS, `${path}.ttlS`, 1, MAX_ALLOW_TTL_S) };
}

function checkUnique(vms: FirewallVm[]): void {
  for (const field of ["tap", "mac", "ip"] as const) {
    const seen = new Map<string, number>();
    vms.forEach((vm, i) => {
      const prev = seen.get(vm[field]);
      if (prev !== undefined)
        bad(`spec.vms[${i}].${field}`, `${vm[field]} is also spec.vms[${prev}].${field}`);
      seen.set(vm[field], i);
    });
  }
}

function checkPeers(vms: FirewallVm[]): void {
  const ips = new Set(vms.map((v) => v.ip));
  vms.forEach((vm, i) => {
    vm.peers.forEach((p, j) => {
      const path = `spec.vms[${i}].peers[${j}]`;
      if (p === vm.ip) bad(path, `${p} is the VM itself`);
      if (!ips.has(p)) bad(path, `${p} is not the address of a VM in spec.vms`);
    });
  });
}

const SPEC_KEYS = ["bridge", "subnet", "gateway", "dnsPort", "nat", "vms"] as const;

/** A checked copy of `v`, or INVALID_ARGUMENT naming the first bad field. */
export function validateFirewallSpec(v: unknown): FirewallSpec {
  const o = obj(v, "spec", SPEC_KEYS);
  const bridge = checkIfName(o.bridge, "spec.bridge");
  const net = parseCidr(o.subnet, "spec.subnet");
  const gateway = checkIpv4(o.gateway, "spec.gateway");
  if (gateway !== intToIp(net.base + 1)) {
    bad(
      "spec.gateway",
      `${gateway} must be the first host address of ${net.text} (${intToIp(net.base + 1)})`,
    );
  }
  const dnsPort = checkInt(o.dnsPort, "spec.dnsPort", 1, 65535);
  if (typeof o.nat !== "boolean") bad("spec.nat", `${JSON.stringify(o.nat)} must be true or false`);
  const vms = checkArray(o.vms, "spec.vms", MAX_FIREWALL_VMS).map((x, i) =>
    checkVm(x, `spec.vms[${i}]`, net, gateway),
  );
  for (const [i, vm] of vms.entries()) {
    if (vm.tap === bridge) bad(`spec.vms[${i}].tap`, `${vm.tap} is the bridge itself`);
  }
  checkUnique(vms);
  checkPeers(vms);
  return { bridge, subnet: net.text, gateway, dnsPort, nat: o.nat, vms };
}
