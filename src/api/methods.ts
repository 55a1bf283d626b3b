/** The RPC contract: every method with its params and result types. */
import type { HealthReport, ListeningPort, VmStats } from "./agent.js";
import type { CatalogEntryView, KernelView, PullParams } from "./catalog.js";
import type { DoctorReport } from "./doctor.js";
import type { CallInput, CpInParams, CpOutParams, CpResult } from "./files.js";
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
  /** The NAME.vm DNS listener: where it listens, or why it does not. */
  dns?: { listen: string | null; error: string | null; records: number; queries: number };
}

export interface ShutdownParams {
  /** Only shut down when the daemon's build id is this one (used to replace a stale daemon safely). */
  ifBuildId?: string;
}

export interface ShutdownResult {
  shuttingDown: boolean;
  pid: number;
}

export interface ImageBuildParams {
  name: string;
  from: string;
  install?: string[];
  /** Absolute path of a shell script run inside the image as root. */
  script?: string;
  /** "SRC:DEST" pairs, SRC absolute on the host, DEST absolute in the image. */
  copy?: string[];
}

export interface VmExecParams {
  name: string;
  argv: string[];
  /** Working directory in the guest (default /root). */
  cwd?: string;
  env?: Record<string, string>;
  /** Kill the command after this long; the result is then exit code 124 with timedOut. */
  timeoutMs?: number;
  /** The caller streams stdin with call.input (data, eof); without it stdin is closed at once. */
  stdin?: boolean;
  /** Run on a pty of this size in the guest (stdout carries all output). */
  pty?: { rows: number; cols: number };
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
  /** Streams progress; falls back to the recipe when the bundle cannot be downloaded. */
  "image.pull": { params: PullParams; result: ImageView };
  "image.buildRecipe": { params: VmRefParams; result: ImageView };
  "image.build": { params: ImageBuildParams; result: ImageView };
  "image.export": { params: { name: string; output: string }; result: { bundle: string; entry: string } };
  "image.available": { params: Record<string, never>; result: { entries: CatalogEntryView[] } };
  "kernel.list": { params: Record<string, never>; result: { kernels: KernelView[] } };
  "kernel.show": { params: VmRefParams; result: KernelView };
  "kernel.delete": { params: VmRefParams; result: { deleted: string } };
  "kernel.pull": { params: PullParams; result: KernelView };
  "kernel.available": { params: Record<string, never>; result: { entries: CatalogEntryView[] } };
  "vm.health": { params: VmRefParams; result: HealthReport };
  /** Streams exec-output events; the result carries the exit code. */
  "vm.exec": { params: VmExecParams; result: { exitCode: number; timedOut?: boolean } };
  /** Input into a call in flight on this connection (exec stdin/signals/resize, cp entries/credit). */
  "call.input": { params: CallInput; result: null };
  /** Copy into the guest: the client sends entries and data with call.input. */
  "vm.cpIn": { params: CpInParams; result: CpResult };
  /** Copy out of the guest: file-entry / file-data events, paced by the client's credit. */
  "vm.cpOut": { params: CpOutParams; result: CpResult };
  "vm.ports": { params: VmRefParams; result: { ports: ListeningPort[] } };
  "vm.stats": { params: { name?: string }; result: { stats: VmStats[] } };
  /** Streams change events until the caller disconnects. */
  "events.watch": { params: Record<string, never>; result: null };
}

export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M]["params"];
export type ResultOf<M extends MethodName> = Methods[M]["result"];
