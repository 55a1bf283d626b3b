import type { DoctorReport } from "../api/doctor.js";
import { hostResources, type Paths, resolveVmDefaults } from "../config/index.js";
import type { ResolvedConfig } from "../config/types.js";
import type { CheckContext } from "../doctor/checks.js";
import { report, runChecks } from "../doctor/run.js";
import { NodeCommandRunner } from "../host/node/NodeCommandRunner.js";
import { NodeHostProbe } from "../host/node/NodeHostProbe.js";

/** The real check context: the host probe over the real command runner. */
export function realCheckContext(paths: Paths, config: ResolvedConfig): CheckContext {
  return {
    probe: new NodeHostProbe(new NodeCommandRunner()),
    config,
    paths,
    vmDefaults: resolveVmDefaults(config, hostResources()),
  };
}

/** Run all doctor checks here (in the daemon, or in the CLI when no daemon can be reached). */
export async function runDoctor(
  paths: Paths,
  config: ResolvedConfig,
  ranIn: DoctorReport["ranIn"],
): Promise<DoctorReport> {
  return report(ranIn, await runChecks(realCheckContext(paths, config)));
}

export function createDoctorHandler(paths: Paths, config: ResolvedConfig) {
  return () => runDoctor(paths, config, "daemon");
}
