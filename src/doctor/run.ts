import type { CheckResult, DoctorReport } from "../api/doctor.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { CHECKS, type CheckContext, type CheckDef } from "./checks.js";

async function runOne(def: CheckDef, ctx: CheckContext): Promise<CheckResult> {
  try {
    return { id: def.id, title: def.title, ...(await def.run(ctx)) };
  } catch (e) {
    return {
      id: def.id,
      title: def.title,
      status: "fail",
      detail: `check crashed: ${(e as Error).message}`,
      fix: "report this as a bug",
    };
  }
}

/** Run every check (or those named) concurrently, keeping their order. */
export async function runChecks(
  ctx: CheckContext,
  ids?: readonly string[],
  defs: readonly CheckDef[] = CHECKS,
): Promise<CheckResult[]> {
  const chosen = ids ? defs.filter((d) => ids.includes(d.id)) : defs;
  if (ids) {
    const unknown = ids.filter((id) => !defs.some((d) => d.id === id));
    if (unknown.length)
      throw new BangerError(ErrorCodes.INTERNAL, `unknown preflight checks: ${unknown.join(", ")}`);
  }
  return Promise.all(chosen.map((d) => runOne(d, ctx)));
}

export function report(ranIn: DoctorReport["ranIn"], checks: CheckResult[]): DoctorReport {
  return { ranIn, checks, ok: checks.every((c) => c.status !== "fail") };
}

/**
 * A command-scoped preflight: run the named checks and throw PREFLIGHT_FAILED
 * with the same message and fix that `banger doctor` prints, before the
 * command touches anything.
 */
export async function preflight(
  ctx: CheckContext,
  ids: readonly string[],
  defs: readonly CheckDef[] = CHECKS,
): Promise<void> {
  const failed = (await runChecks(ctx, ids, defs)).filter((c) => c.status === "fail");
  if (failed.length === 0) return;
  const message = failed.map((c) => `${c.title}: ${c.detail}`).join("; ");
  const hint = failed
    .map((c) => c.fix)
    .filter(Boolean)
    .join("; ");
  throw new BangerError(ErrorCodes.PREFLIGHT_FAILED, message, {
    hint: hint ? `${hint} (run \`banger doctor\` for all checks)` : "run `banger doctor` for all checks",
    details: failed,
  });
}
