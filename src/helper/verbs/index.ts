/**
 * The helper's fixed verb table. A verb missing here is refused. Each
 * handler validates its own `args` (unknown input) before acting.
 */
import type { HelperContext } from "../context.js";
import { HELPER_PROTOCOL_VERSION, type HelperVerb } from "../protocol.js";
import { bridgeEnsure } from "./bridge.js";
import { cgroupVerbs, realCgroupEnv } from "./cgroup.js";
import { firewallVerbs } from "./firewall.js";
import { sysctlSet } from "./sysctl.js";
import { tapCreate, tapDelete } from "./tap.js";

export type VerbHandler = (ctx: HelperContext, args: unknown) => Promise<unknown>;

async function hello(ctx: HelperContext): Promise<unknown> {
  return { version: HELPER_PROTOCOL_VERSION, uid: ctx.uid, vmmUid: ctx.vmmUid, vmmGid: ctx.vmmGid };
}

export const VERBS: Partial<Record<HelperVerb, VerbHandler>> = {
  hello,
  "bridge.ensure": bridgeEnsure,
  "tap.create": tapCreate,
  "tap.delete": tapDelete,
  "sysctl.set": sysctlSet,
  ...cgroupVerbs(realCgroupEnv),
  ...firewallVerbs,
};
