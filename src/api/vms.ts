/** Wire types for VMs and images (dates as ISO strings); see schema/vms.ts. */
import type { z } from "zod";
import type * as S from "./schema/vms.js";

export type VmView = z.infer<typeof S.VmView>;
export type VmCreateParams = z.input<typeof S.VmCreateParams>;
export type VmRefParams = { name: string };
export type VmStopParams = z.input<typeof S.VmStopParams>;
export type VmDeleteParams = z.input<typeof S.VmDeleteParams>;
export type VmListResult = z.infer<typeof S.VmListResult>;
export type VmLogsParams = z.input<typeof S.VmLogsParams>;
export type SshInfo = z.infer<typeof S.SshInfo>;
export type ImageView = z.infer<typeof S.ImageView>;
export type ImageRegisterParams = z.input<typeof S.ImageRegisterParams>;
export type VmCgroupView = z.infer<typeof S.VmCgroupView>;
export type VmEgressParams = z.input<typeof S.VmEgressParams>;
export type VmEgressView = z.infer<typeof S.VmEgressView>;
