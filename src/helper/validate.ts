/**
 * Pure argument checks of the privileged helper: TAP names of banger's
 * scheme, private IPv4 subnets, and whether a subnet overlaps a route or an
 * address on the host. Also used by the daemon to explain a collision early.
 */
import { HelperError } from "./context.js";
import { checkIfName } from "./owned.js";

/** banger's bridge names: "bgr" or "banger", then letters, digits or "_"; at most 15 characters. */
const BRIDGE_RE = /^(?=.{3,15}$)(bgr|banger)[A-Za-z0-9_]*$/;

/** A TAP name of banger's scheme: its bridge's first 9 characters, "t", and a number of at most 5 digits. */
const TAP_RE = /^(bgr[A-Za-z0-9_]{0,6}|banger[A-Za-z0-9_]{0,3})t(0|[1-9][0-9]{0,4})$/;

/** A bridge name of banger's (so the helper never creates a link another program may expect to own). */
export function checkBridgeName(v: unknown): string {
  const name = checkIfName(v, "bridge");
  if (!BRIDGE_RE.test(name)) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `bridge: "${name}" is not a banger bridge name (it starts with "bgr" or "banger", then letters, digits or _)`,
    );
  }
  return name;
}

/** The prefix of a bridge's TAP names (first 9 characters of the bridge, then "t"). */
export function tapPrefixOf(bridge: string): string {
  return `${bridge.slice(0, 9)}t`;
}

/** A TAP name of banger's scheme; with `bridge`, also of that bridge's prefix. */
export function checkTapName(tap: unknown, bridge?: string): string {
  const name = checkIfName(tap, "tap");
  const ofBridge = bridge === undefined || name.startsWith(tapPrefixOf(bridge));
  const digits = bridge === undefined ? "" : name.slice(tapPrefixOf(bridge).length);
  if (!TAP_RE.test(name) || !ofBridge || (bridge !== undefined && !/^(0|[1-9][0-9]{0,4})$/.test(digits))) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `tap: "${name}" is not a TAP name of banger's scheme${bridge ? ` for bridge ${bridge} (${tapPrefixOf(bridge)}<n>)` : ""}`,
    );
  }
  return name;
}

export interface Cidr {
  /** Network address as a 32-bit unsigned number. */
  net: number;
  prefix: number;
  /** "a.b.c.d/n" */
  cidr: string;
  /** First host address, dotted. */
  gateway: string;
}

export function ipv4ToInt(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? "";
    if (part.length > 1 && part.startsWith("0")) return null;
    const b = Number(part);
    if (b > 255) return null;
    n = n * 256 + b;
  }
  return n;
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parse "a.b.c.d" or "a.b.c.d/n" (any prefix 0..32) into network + prefix; null when malformed. */
export function parseRouteDst(dst: string): { net: number; prefix: number } | null {
  if (dst === "default") return { net: 0, prefix: 0 };
  const [ip, p] = dst.split("/");
  const n = ipv4ToInt(ip ?? "");
  const prefix = p === undefined ? 32 : /^\d{1,2}$/.test(p) ? Number(p) : -1;
  if (n === null || prefix < 0 || prefix > 32) return null;
  return { net: (n & maskOf(prefix)) >>> 0, prefix };
}

const PRIVATE: Array<[number, number]> = [
  [ipv4ToInt("10.0.0.0") ?? 0, 8],
  [ipv4ToInt("172.16.0.0") ?? 0, 12],
  [ipv4ToInt("192.168.0.0") ?? 0, 16],
];

/** A private (RFC 1918) IPv4 network of prefix /16 to /29, given as its network address. */
export function checkPrivateCidr(v: unknown, field = "cidr"): Cidr {
  const s = typeof v === "string" ? v : "";
  const m = /^([0-9.]{7,15})\/(\d{1,2})$/.exec(s);
  const ip = m ? ipv4ToInt(m[1] ?? "") : null;
  if (!m || ip === null) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `${field}: ${JSON.stringify(v)} is not an IPv4 CIDR like 172.30.3.0/24`,
    );
  }
  const prefix = Number(m[2]);
  if (prefix < 16 || prefix > 29) {
    throw new HelperError("INVALID_ARGUMENT", `${field}: ${s} has prefix /${prefix}; use /16 to /29`);
  }
  if ((ip & maskOf(prefix)) >>> 0 !== ip) {
    throw new HelperError("INVALID_ARGUMENT", `${field}: ${s} is not a network address (host bits set)`);
  }
  if (!PRIVATE.some(([n, p]) => (ip & maskOf(p)) >>> 0 === n)) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `${field}: ${s} is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`,
    );
  }
  return { net: ip, prefix, cidr: s, gateway: intToIpv4(ip + 1) };
}

export function overlaps(a: { net: number; prefix: number }, b: { net: number; prefix: number }): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.net & maskOf(p)) >>> 0 === (b.net & maskOf(p)) >>> 0;
}

/** One entry of `ip -j -4 route show table all`. */
interface RouteJson {
  dst?: unknown;
  dev?: unknown;
  type?: unknown;
  table?: unknown;
}

/** One entry of `ip -j -4 addr show`. */
interface AddrJson {
  ifname?: unknown;
  addr_info?: Array<{ family?: unknown; local?: unknown; prefixlen?: unknown }>;
}

/**
 * The first route or address (outside `ownDev`) that overlaps `cidr`, as a
 * short description ("10.0.0.0/8 dev eth0"), or null. Default routes and
 * multicast entries do not count.
 */
export function findOverlap(
  cidr: { net: number; prefix: number },
  routesJson: string,
  addrsJson: string,
  ownDev: string | null,
): string | null {
  const routes = JSON.parse(routesJson.trim() || "[]") as RouteJson[];
  for (const r of routes) {
    if (typeof r.dst !== "string" || r.dst === "default") continue;
    if (r.type === "multicast" || (ownDev !== null && r.dev === ownDev)) continue;
    const d = parseRouteDst(r.dst);
    if (d === null || d.prefix === 0 || !overlaps(cidr, d)) continue;
    return `route ${r.dst}${typeof r.dev === "string" ? ` dev ${r.dev}` : ""}`;
  }
  const links = JSON.parse(addrsJson.trim() || "[]") as AddrJson[];
  for (const l of links) {
    if (typeof l.ifname !== "string" || l.ifname === ownDev) continue;
    for (const a of l.addr_info ?? []) {
      if (a.family !== "inet" || typeof a.local !== "string") continue;
      const d = parseRouteDst(`${a.local}/${String(a.prefixlen)}`);
      if (d !== null && overlaps(cidr, d)) return `address ${a.local}/${String(a.prefixlen)} on ${l.ifname}`;
    }
  }
  return null;
}

/** argv of the two reads findOverlap takes. */
export const OVERLAP_READS = {
  routes: ["ip", "-j", "-4", "route", "show", "table", "all"],
  addrs: ["ip", "-j", "-4", "addr", "show"],
} as const;
