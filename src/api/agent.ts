/** Wire types of what the guest agent reports (shared by daemon, CLI and TUI); see schema/agent.ts. */
import type { z } from "zod";
import type * as S from "./schema/agent.js";

export type GuestHealth = z.infer<typeof S.GuestHealth>;
export type HealthReport = z.infer<typeof S.HealthReport>;
export type ListeningPort = z.infer<typeof S.ListeningPort>;
export type VmStats = z.infer<typeof S.VmStats>;
