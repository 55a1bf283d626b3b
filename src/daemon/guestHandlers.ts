/** RPC handlers that reach into guests (agent) and the stats cache. */
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Handler } from "../rpc/server.js";
import { asObject, optInt, optString, reqString } from "../services/params.js";
import type { GuestService } from "../services/vms/GuestService.js";

function stringArray(p: Record<string, unknown>, field: string): string[] {
  const v = p[field];
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be a non-empty array of strings`);
  }
  return v as string[];
}

function stringMap(p: Record<string, unknown>, field: string): Record<string, string> | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be an object of strings`);
  }
  return v as Record<string, string>;
}

export function guestHandlers(guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  h.set("vm.health", (raw) => guest.health(reqString(asObject(raw), "name")));
  h.set("vm.ports", async (raw) => ({ ports: await guest.ports(reqString(asObject(raw), "name")) }));
  h.set("vm.stats", (raw) => ({ stats: guest.stats(optString(asObject(raw), "name")) }));
  h.set("vm.exec", async (raw, ctx) => {
    const p = asObject(raw);
    const timeoutMs = optInt(p, "timeoutMs", 1, 24 * 3_600_000);
    const signal = timeoutMs ? AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]) : ctx.signal;
    const cwd = optString(p, "cwd");
    const env = stringMap(p, "env");
    const exitCode = await guest.exec(reqString(p, "name"), stringArray(p, "argv"), {
      ...(cwd ? { cwd } : {}),
      ...(env ? { env } : {}),
      signal,
      onStdout: (b) => ctx.emit({ kind: "exec-output", stream: "stdout", data: b.toString("base64") }),
      onStderr: (b) => ctx.emit({ kind: "exec-output", stream: "stderr", data: b.toString("base64") }),
    });
    return { exitCode };
  });
  return h;
}
