/** RPC for egress policies: `vm.egress` (show or change), and the shared check of a `peers` list. */
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Handler } from "../rpc/server.js";
import type { EgressService } from "../services/network/firewall/EgressService.js";
import { asObject, optString, reqString } from "../services/params.js";

/** An optional array of strings (at most 64). */
export function optStringList(p: Record<string, unknown>, field: string): string[] | undefined {
  const v = p[field];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 64 || !v.every((x) => typeof x === "string")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be a list of at most 64 strings`);
  }
  return v as string[];
}

export function egressHandlers(egress: EgressService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  h.set("vm.egress", (raw) => {
    const p = asObject(raw);
    const egressText = optString(p, "egress");
    const peers = optStringList(p, "peers");
    return egress.egress({
      name: reqString(p, "name"),
      ...(egressText !== undefined ? { egress: egressText } : {}),
      ...(peers !== undefined ? { peers } : {}),
    });
  });
  return h;
}
