/** The errors of Ext4DiskManager: bad input, and a prepare step that failed (with the command's own words). */
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";

export function invalid(message: string, hint?: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, message, hint === undefined ? {} : { hint });
}

const NO_SPACE = /No space left on device|ENOSPC/;

/** A prepare failure: names the step and carries the command's own words (its stderr). */
export function stepError(vmDir: string, step: string, e: unknown): BangerError {
  const result =
    e instanceof BangerError ? (e.details as { stderr?: string; stdout?: string } | undefined) : undefined;
  const output = (result?.stderr?.trim() || result?.stdout?.trim() || "").split("\n").slice(-5).join("\n");
  const said = output || (e instanceof Error ? e.message : String(e));
  const full = NO_SPACE.test(said) || (e as NodeJS.ErrnoException)?.code === "ENOSPC";
  const dir = path.dirname(vmDir);
  const hint = full
    ? `the filesystem holding ${dir} is full: free disk space there (see \`df -h ${dir}\`), for example by removing unused VMs or images`
    : e instanceof BangerError
      ? e.hint
      : undefined;
  const code = full || !(e instanceof BangerError) ? ErrorCodes.COMMAND_FAILED : e.code;
  return new BangerError(code, `creating the disks in ${vmDir} failed at step "${step}": ${said}`, {
    cause: e,
    ...(hint === undefined ? {} : { hint }),
    details: { step, ...(result ? { result } : {}) },
  });
}
