/** The shape of a doctor report: shared by the daemon, the CLI and `--json`. */
export type CheckStatus = "pass" | "warn" | "fail";

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found (version, path, value). */
  detail: string;
  /** The command or action that fixes it, when status is not pass. */
  fix?: string;
}

export interface DoctorReport {
  /** Where the checks ran: in the daemon, or in the CLI when the daemon could not be reached. */
  ranIn: "daemon" | "cli";
  checks: CheckResult[];
  ok: boolean;
}
