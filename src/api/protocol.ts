/**
 * The wire protocol between `banger` and `bangerd`: newline-delimited JSON
 * over a Unix socket. A request carries the protocol version; the daemon
 * answers with zero or more `event` messages (progress of long operations)
 * and then exactly one `result` or `error` for that request id. Several
 * requests may be in flight on one connection.
 */
import type { ErrorPayload } from "../errors/index.js";
import type { VmState } from "../model/vm.js";
import type { FileDataEvent, FileEntryEvent, FileWarningEvent } from "./files.js";

export const PROTOCOL_VERSION = 1;

/** Longest accepted line, in bytes; a longer one closes the connection. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface RpcRequest {
  v: number;
  id: number;
  method: string;
  params?: unknown;
}

/** A progress event for a long operation (create, pull, build...). */
export interface ProgressEvent {
  kind: "progress";
  /** Machine-readable stage name, for example "boot:drives". */
  stage: string;
  /** Human-readable line. */
  message: string;
  /** "start" when a stage begins, "done" when it ends (with ms), "info" otherwise. */
  phase: "start" | "done" | "info" | "warn";
  ms?: number;
  /** Byte or item counts for progress bars. */
  current?: number;
  total?: number;
}

/** A chunk of a log being streamed (vm.logs). */
export interface LogEvent {
  kind: "log";
  data: string;
}

/** Output of a command run in a guest through the agent (vm.exec). */
export interface ExecOutputEvent {
  kind: "exec-output";
  stream: "stdout" | "stderr";
  /** base64 */
  data: string;
}

/** A change the daemon announces to `events.watch` subscribers (TUI). */
export interface ChangeEvent {
  kind: "change";
  /** What changed: a VM (payload: its name; fetch it with vm.show), an image, a kernel, or stats. */
  topic: "vm" | "vm-deleted" | "image" | "kernel" | "stats";
  name: string;
  /** For topic "vm": the VM's state after the change. */
  state?: VmState;
}

export type RpcEvent =
  | ProgressEvent
  | LogEvent
  | ExecOutputEvent
  | ChangeEvent
  | FileEntryEvent
  | FileDataEvent
  | FileWarningEvent;

export type RpcResponse =
  | { id: number; type: "event"; event: RpcEvent }
  | { id: number; type: "result"; result: unknown }
  | { id: number; type: "error"; error: ErrorPayload };
