/**
 * `bridge.ensure`: the caller's bridge, marked with the caller's uid, holding
 * the subnet's first address, up. A link of that name that another uid (or
 * not banger) made is refused, and so is a subnet that overlaps any route or
 * address on the host outside this bridge.
 */
import { type HelperContext, HelperError } from "../context.js";
import { linkFacts } from "../owned.js";
import { linkMarker } from "../protocol.js";
import { checkBridgeName, checkPrivateCidr, findOverlap, OVERLAP_READS } from "../validate.js";

interface BridgeState {
  up: boolean;
  ipv4: string[];
}

async function readBridge(ctx: HelperContext, br: string): Promise<BridgeState> {
  const r = await ctx.run(["ip", "-j", "-4", "addr", "show", "dev", br]);
  const [o] = JSON.parse(r.stdout.trim() || "[]") as Array<{
    flags?: string[];
    addr_info?: Array<{ local?: string; prefixlen?: number }>;
  }>;
  return {
    up: o?.flags?.includes("UP") ?? false,
    ipv4: (o?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
  };
}

export async function bridgeEnsure(ctx: HelperContext, args: unknown): Promise<null> {
  const a = (typeof args === "object" && args !== null ? args : {}) as { bridge?: unknown; cidr?: unknown };
  const br = checkBridgeName(a.bridge);
  const cidr = checkPrivateCidr(a.cidr);
  const facts = await linkFacts(ctx, br);
  if (facts.exists && facts.kind !== "bridge") {
    throw new HelperError("CONFLICT", `${br} exists and is a ${facts.kind || "plain"} link, not a bridge`);
  }
  if (facts.exists && facts.alias !== linkMarker(ctx.uid)) {
    throw new HelperError(
      "PERMISSION",
      `${br} was not made by banger for uid ${ctx.uid}: refusing to touch it`,
    );
  }
  const routes = await ctx.run([...OVERLAP_READS.routes]);
  const addrs = await ctx.run([...OVERLAP_READS.addrs]);
  const clash = findOverlap(cidr, routes.stdout, addrs.stdout, facts.exists ? br : null);
  if (clash !== null) {
    throw new HelperError("CONFLICT", `subnet ${cidr.cidr} overlaps the host's ${clash}`);
  }
  if (!facts.exists) {
    await ctx.run(["ip", "link", "add", "name", br, "type", "bridge"]);
    try {
      await ctx.run(["ip", "link", "set", "dev", br, "alias", linkMarker(ctx.uid)]);
    } catch (e) {
      await ctx.run(["ip", "link", "delete", "dev", br], { allowFailure: true });
      throw e;
    }
  }
  const want = `${cidr.gateway}/${cidr.prefix}`;
  const state = await readBridge(ctx, br);
  for (const old of state.ipv4.filter((x) => x !== want)) {
    await ctx.run(["ip", "addr", "del", old, "dev", br]);
  }
  if (!state.ipv4.includes(want)) await ctx.run(["ip", "addr", "replace", want, "dev", br]);
  if (!state.up) await ctx.run(["ip", "link", "set", "dev", br, "up"]);
  return null;
}
