/** The RPC contract: every method with its params and result types. */
import type { DoctorReport } from "./doctor.js";
import type {
  ImageRegisterParams,
  ImageView,
  SshInfo,
  VmCreateParams,
  VmDeleteParams,
  VmListResult,
  VmLogsParams,
  VmRefParams,
  VmStopParams,
  VmView,
} from "./vms.js";

export interface DaemonPaths {
  configDir: string;
  stateDir: string;
  cacheDir: string;
  runtimeDir: string;
  socket: string;
  dbFile: string;
  logsDir: string;
}

export interface PingResult {
  version: string;
  buildId: string;
  protocol: number;
  pid: number;
  /** Seconds since the daemon started. */
  uptimeSec: number;
  startedAt: string;
  socket: string;
  logPath: string;
  paths: DaemonPaths;
}

export interface ShutdownParams {
  /** Only shut down when the daemon's build id is this one (used to replace a stale daemon safely). */
  ifBuildId?: string;
}

export interface ShutdownResult {
  shuttingDown: boolean;
  pid: number;
}

export interface Methods {
  ping: { params: Record<string, never>; result: PingResult };
  shutdown: { params: ShutdownParams; result: ShutdownResult };
  doctor: { params: Record<string, never>; result: DoctorReport };
  "vm.create": { params: VmCreateParams; result: VmView };
  "vm.start": { params: VmRefParams; result: VmView };
  "vm.stop": { params: VmStopParams; result: VmView };
  "vm.restart": { params: VmStopParams; result: VmView };
  "vm.delete": { params: VmDeleteParams; result: { deleted: string } };
  "vm.list": { params: Record<string, never>; result: VmListResult };
  "vm.show": { params: VmRefParams; result: VmView };
  /** Streams `log` events; with follow, ends only when the caller disconnects. */
  "vm.logs": { params: VmLogsParams; result: { bytes: number } };
  "vm.sshInfo": { params: VmRefParams; result: SshInfo };
  "image.register": { params: ImageRegisterParams; result: ImageView };
  "image.list": { params: Record<string, never>; result: { images: ImageView[] } };
  "image.show": { params: VmRefParams; result: ImageView };
  "image.delete": { params: VmRefParams; result: { deleted: string } };
}

export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M]["params"];
export type ResultOf<M extends MethodName> = Methods[M]["result"];
