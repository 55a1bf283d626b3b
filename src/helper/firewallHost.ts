/**
 * What the firewall verbs read from the host (in the helper's network
 * namespace): the host's own addresses, banger's tables as JSON, counters,
 * allow sets, and host settings that bypass or break the policy. Parsers are
 * pure and exported for tests.
 */
import { readFile } from "node:fs/promises";
import type { HelperContext } from "./context.js";
import type { FirewallHostFacts } from "./protocol.js";
import { nftTableName } from "./protocol.js";

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.trim() === "" ? "null" : text);
  } catch {
    return null;
  }
}

/** Every local IPv4 address from `ip -j -4 addr show`. */
export function parseHostAddrs(text: string): string[] {
  const v = parseJson(text);
  if (!Array.isArray(v)) return [];
  const out = new Set<string>();
  for (const link of v.filter(isObj)) {
    for (const a of Array.isArray(link.addr_info) ? link.addr_info.filter(isObj) : []) {
      if (a.family === "inet" && typeof a.local === "string") out.add(a.local);
    }
  }
  return [...out];
}

export async function hostAddrs(ctx: HelperContext): Promise<string[]> {
  const r = await ctx.run(["ip", "-j", "-4", "addr", "show"]);
  return parseHostAddrs(r.stdout);
}

/** The objects of an `nft -j list ...` answer. */
export function nftObjects(text: string): Json[] {
  const v = parseJson(text);
  const list = isObj(v) && Array.isArray(v.nftables) ? v.nftables : [];
  return list.filter(isObj);
}

export interface NftCounter {
  name: string;
  packets: number;
  bytes: number;
}

export function parseCounters(objs: Json[]): NftCounter[] {
  return objs.flatMap((o) => {
    const c = o.counter;
    if (!isObj(c) || typeof c.name !== "string") return [];
    return [{ name: c.name, packets: Number(c.packets) || 0, bytes: Number(c.bytes) || 0 }];
  });
}

export interface NftSetElems {
  name: string;
  elems: Array<{ ip: string; expiresS: number | null }>;
}

/** Sets with their elements; an element with a timeout is `{elem: {val, timeout, expires}}`. */
export function parseSets(objs: Json[]): NftSetElems[] {
  return objs.flatMap((o) => {
    const s = o.set;
    if (!isObj(s) || typeof s.name !== "string") return [];
    const raw = Array.isArray(s.elem) ? s.elem : [];
    const elems = raw.flatMap((e: unknown) => {
      if (typeof e === "string") return [{ ip: e, expiresS: null }];
      const inner = isObj(e) && isObj(e.elem) ? e.elem : null;
      if (inner && typeof inner.val === "string") {
        return [{ ip: inner.val, expiresS: typeof inner.expires === "number" ? inner.expires : null }];
      }
      return [];
    });
    return [{ name: s.name, elems }];
  });
}

/** One of the caller's tables as JSON objects, or null when it does not exist. */
export async function listTable(ctx: HelperContext, family: "inet" | "bridge"): Promise<Json[] | null> {
  const r = await ctx.run(["nft", "-j", "list", "table", family, nftTableName(ctx.uid)], {
    allowFailure: true,
  });
  return r.code === 0 ? nftObjects(r.stdout) : null;
}

/** Forward-hook base chains whose policy is drop (Docker sets one), from `nft -j list chains`. */
export function parseForwardDropChains(objs: Json[]): string[] {
  return objs.flatMap((o) => {
    const c = o.chain;
    if (!isObj(c) || c.hook !== "forward" || c.policy !== "drop") return [];
    return [`${String(c.family)} ${String(c.table)} ${String(c.name)}`];
  });
}

async function readSysctl(file: string): Promise<string | null> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    return null;
  }
}

export async function hostFacts(ctx: HelperContext): Promise<FirewallHostFacts> {
  const chains = await ctx.run(["nft", "-j", "list", "chains"], { allowFailure: true });
  const brNf = await readSysctl("/proc/sys/net/bridge/bridge-nf-call-iptables");
  const fwd = await readSysctl("/proc/sys/net/ipv4/ip_forward");
  return {
    forwardDropChains: chains.code === 0 ? parseForwardDropChains(nftObjects(chains.stdout)) : [],
    bridgeNfCallIptables: brNf === null ? null : brNf === "1",
    ipForward: fwd === "1",
    nftAvailable: chains.code === 0,
  };
}
