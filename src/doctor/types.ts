/** What a doctor check is and what it reads (apart from the checks, so check modules share them without cycles). */
import type { CheckResult } from "../api/doctor.js";
import type { Paths } from "../config/paths.js";
import type { ResolvedConfig, Sourced } from "../config/types.js";
import type { HostProbe } from "../host/probe.js";

export interface VmDefaultsView {
  vcpu: Sourced<number>;
  memoryMib: Sourced<number>;
  diskSizeBytes: Sourced<number>;
}

export interface CheckContext {
  probe: HostProbe;
  config: ResolvedConfig;
  paths: Paths;
  vmDefaults: VmDefaultsView;
}

export interface CheckDef {
  id: string;
  title: string;
  run(ctx: CheckContext): Promise<Omit<CheckResult, "id" | "title">>;
}
