/** The shape of a doctor report: shared by the daemon, the CLI and `--json`; see schema/doctor.ts. */
import type { z } from "zod";
import type * as S from "./schema/doctor.js";

export type CheckStatus = z.infer<typeof S.CheckStatus>;
export type CheckResult = z.infer<typeof S.CheckResult>;
export type DoctorReport = z.infer<typeof S.DoctorReport>;
