/**
 * `tap.create` and `tap.delete`: persistent TAPs of banger's naming scheme,
 * owned by the caller's VMM uid, marked with the caller's uid, attached to
 * the caller's bridge, up and port-isolated. A TAP is only ever changed or
 * deleted when both its marker and its owner are the caller's.
 */
import { type HelperContext, HelperError } from "../context.js";
import { linkFacts, requireOwnedLink } from "../owned.js";
import { linkMarker } from "../protocol.js";
import { checkBridgeName, checkTapName } from "../validate.js";

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {};

/** Marked, attached to the bridge, up, isolated from the bridge's other isolated ports (idempotent). */
async function attach(ctx: HelperContext, tap: string, br: string): Promise<void> {
  await ctx.run(["ip", "link", "set", "dev", tap, "alias", linkMarker(ctx.uid), "master", br, "up"]);
  await ctx.run(["bridge", "link", "set", "dev", tap, "isolated", "on"]);
}

export async function tapCreate(ctx: HelperContext, args: unknown): Promise<{ ownerUid: number }> {
  const a = obj(args);
  const br = checkBridgeName(a.bridge);
  const tap = checkTapName(a.tap, br);
  if (ctx.vmmUid < 0) {
    throw new HelperError(
      "PERMISSION",
      "the system user banger-vmm does not exist, so a TAP for root's VMMs has no owner: run scripts/deps.sh as root",
    );
  }
  await requireOwnedLink(ctx, br, "bridge");
  const facts = await linkFacts(ctx, tap);
  if (facts.exists) {
    await requireOwnedLink(ctx, tap, "tun");
    await attach(ctx, tap, br);
    return { ownerUid: ctx.vmmUid };
  }
  const owner = ["user", String(ctx.vmmUid), "group", String(ctx.vmmGid)];
  await ctx.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap", ...owner]);
  try {
    await attach(ctx, tap, br);
  } catch (e) {
    await ctx.run(["ip", "link", "delete", "dev", tap], { allowFailure: true });
    throw e;
  }
  return { ownerUid: ctx.vmmUid };
}

export async function tapDelete(ctx: HelperContext, args: unknown): Promise<null> {
  const tap = checkTapName(obj(args).tap);
  const facts = await linkFacts(ctx, tap);
  if (!facts.exists) return null;
  await requireOwnedLink(ctx, tap, "tun");
  const r = await ctx.run(["ip", "link", "delete", "dev", tap], { allowFailure: true });
  if (r.code !== 0 && (await linkFacts(ctx, tap)).exists) {
    throw new HelperError("COMMAND_FAILED", `could not delete ${tap}: ${r.stderr.trim()}`);
  }
  return null;
}
