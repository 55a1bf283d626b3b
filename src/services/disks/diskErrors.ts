/** The errors of Ext4DiskManager: bad input, and a prepare step that failed (with the command's own words). */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { isNoSpace } from "../../host/space.js";

export function invalid(message: string, hint?: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, message, hint === undefined ? {} : { hint });
}

/** A prepare failure: names the step and carries the command's own words (its stderr). */
export function stepError(vmDir: string, step: string, e: unknown): BangerError {
  const result =
    e instanceof BangerError ? (e.details as { stderr?: string; stdout?: string } | undefined) : undefined;
  const output = (result?.stderr?.trim() || result?.stdout?.trim() || "").split("\n").slice(-5).join("\n");
  const said = output || (e instanceof Error ? e.message : String(e));
  const full = isNoSpace(e);
  const hint = e instanceof BangerError && !full ? e.hint : undefined;
  const code = full || !(e instanceof BangerError) ? ErrorCodes.COMMAND_FAILED : e.code;
  return new BangerError(code, `creating the disks in ${vmDir} failed at step "${step}": ${said}`, {
    cause: e,
    ...(hint === undefined ? {} : { hint }),
    details: { step, ...(result ? { result } : {}) },
  });
}
