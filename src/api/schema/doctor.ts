/** Schema of a doctor report: shared by the daemon, the CLI and `--json`. */
import { z } from "zod";

export const CheckStatus = z.enum(["pass", "warn", "fail"]);

export const CheckResult = z.object({
  id: z.string(),
  title: z.string(),
  status: CheckStatus,
  /** What was found (version, path, value). */
  detail: z.string(),
  /** The command or action that fixes it, when status is not pass. */
  fix: z.string().optional(),
});

export const DoctorReport = z.object({
  /** Where the checks ran: in the daemon, or in the CLI when the daemon could not be reached. */
  ranIn: z.enum(["daemon", "cli"]),
  checks: z.array(CheckResult),
  ok: z.boolean(),
});
