/**
 * Ownership checks shared by the helper's verbs: a link is the caller's when
 * it carries the caller's banger marker (ifalias) and, for a TAP, the tun
 * owner is the caller's VMM uid. Nothing else is ever changed or deleted.
 */
import type { HelperContext } from "./context.js";
import { HelperError } from "./context.js";
import { linkMarker } from "./protocol.js";

const IFNAME_RE = /^[A-Za-z0-9_.]{1,15}$/;

/** A Linux interface name banger may use: letters, digits, `_` and `.`, at most 15; never an option. */
export function checkIfName(name: unknown, field: string): string {
  if (typeof name !== "string" || !IFNAME_RE.test(name)) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `${field}: ${JSON.stringify(name)} is not a valid interface name (1-15 of A-Z a-z 0-9 _ .)`,
    );
  }
  return name;
}

export interface LinkFacts {
  exists: boolean;
  kind: string;
  alias: string | null;
  /** tun owner uid (TAPs only; null when none or not a tun device). */
  tunOwner: number | null;
}

/** Read one link's kind, ifalias and tun owner (in the helper's network namespace). */
export async function linkFacts(ctx: HelperContext, dev: string): Promise<LinkFacts> {
  const r = await ctx.run(["ip", "-j", "-d", "link", "show", "dev", dev], { allowFailure: true });
  if (r.code !== 0) return { exists: false, kind: "", alias: null, tunOwner: null };
  const [o] = JSON.parse(r.stdout) as Array<{ ifalias?: string; linkinfo?: { info_kind?: string } }>;
  const kind = o?.linkinfo?.info_kind ?? "";
  let tunOwner: number | null = null;
  if (kind === "tun") {
    const t = await ctx.run(["ip", "-j", "tuntap", "show"], { allowFailure: true });
    const list =
      t.code === 0 ? (JSON.parse(t.stdout || "[]") as Array<{ ifname?: string; user?: number }>) : [];
    const own = list.find((x) => x.ifname === dev)?.user;
    tunOwner = typeof own === "number" ? own : null;
  }
  return { exists: true, kind, alias: o?.ifalias ?? null, tunOwner };
}

/** Throws PERMISSION unless the link exists with the caller's marker (and, for a TAP, the caller's VMM uid as owner). */
export async function requireOwnedLink(
  ctx: HelperContext,
  dev: string,
  kind: "bridge" | "tun",
): Promise<LinkFacts> {
  const f = await linkFacts(ctx, dev);
  if (!f.exists) throw new HelperError("NOT_FOUND", `${dev} does not exist`);
  if (f.kind !== kind)
    throw new HelperError("PERMISSION", `${dev} is a ${f.kind || "plain"} link, not a ${kind}`);
  if (f.alias !== linkMarker(ctx.uid)) {
    throw new HelperError(
      "PERMISSION",
      `${dev} was not made by banger for uid ${ctx.uid}: refusing to touch it`,
    );
  }
  if (kind === "tun" && f.tunOwner !== ctx.vmmUid) {
    throw new HelperError("PERMISSION", `${dev} is owned by uid ${f.tunOwner ?? "none"}, not ${ctx.vmmUid}`);
  }
  return f;
}
