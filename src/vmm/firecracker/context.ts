/** The state the Firecracker boot steps share (kept apart from the steps so step files do not import each other). */
import type { BootSpec } from "../driver.js";
import type { VmLogs } from "../logger/vmLogs.js";
import type { FirecrackerApiClient } from "./ApiClient.js";
import type { FirecrackerPaths } from "./argv.js";
import type { JailPlan, UidRange } from "./jail.js";

export interface JailSettings {
  jailerBin: string;
  uidRange: UidRange;
  cgroupVersion: 1 | 2;
  /** Run an argv to completion (setfacl, getfacl); resolves with its stdout, throws with its stderr. */
  exec: (argv: string[]) => Promise<string>;
  /** Run the launch argv as root with stdout/stderr appended to `logPath`; resolves when it exited 0. */
  launch: (plan: JailPlan, planFile: string, logPath: string) => Promise<void>;
  /** Uids of jails alive now (never given to a new jail). */
  uidsInUse: () => ReadonlySet<number>;
}

export interface BootStepSettings {
  firecrackerBin: string;
  /** Where the console (stdout) and Firecracker's own log (stderr, and /logger) go when not jailed. */
  logs: VmLogs;
  /** Set when Firecracker runs through its jailer (a jailer sits beside the binary). */
  jail: JailSettings | null;
  /** Checks the binary's version (cached per binary); throws below the minimum, else resolves with "X.Y.Z". */
  checkVersion: (bin: string) => Promise<string>;
  /** Deadline for the API socket to answer after spawn. */
  apiTimeoutMs: number;
  pollMs: number;
  /** Ambient state for the SUDO_UID chown. */
  env: NodeJS.ProcessEnv;
  getuid: () => number;
  chown: (path: string, uid: number, gid: number) => void;
}

export interface BootContext {
  spec: BootSpec;
  /** Host paths of the sockets and the metrics file. */
  paths: FirecrackerPaths;
  /** The spec and paths as Firecracker sees them (inside the chroot when jailed): what the bodies carry. */
  api: { spec: BootSpec; paths: FirecrackerPaths };
  client: FirecrackerApiClient;
  settings: BootStepSettings;
  /** Set by "spawn". */
  pid: number | null;
}
