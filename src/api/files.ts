/**
 * Streaming calls: input a client sends into a call in flight (exec stdin,
 * signals, terminal size; `vm cp` entries and data; flow-control credit), and
 * the `vm cp` methods' types. A call that takes input is told its request id
 * through `CallOptions.onId`; the client then sends `call.input` requests
 * naming that id, on the same connection, and awaits each one's (empty) result
 * before the window of unanswered inputs fills: that is the flow control.
 */
import type { z } from "zod";
import type * as S from "./schema/files.js";

export type FileEntry = z.infer<typeof S.FileEntry>;
export type CallInput = z.infer<typeof S.CallInput>;
export type CpInParams = z.input<typeof S.CpInParams>;
export type CpOutParams = z.input<typeof S.CpOutParams>;
export type CpResult = z.infer<typeof S.CpResult>;

/** vm.cpOut events: an entry, then (for a file) its data; a warning names a skipped entry. */
export interface FileEntryEvent {
  kind: "file-entry";
  entry: FileEntry;
}

export interface FileDataEvent {
  kind: "file-data";
  /** base64 */
  data: string;
}

export interface FileWarningEvent {
  kind: "file-warning";
  message: string;
}

/** How many bytes of file data vm.cpOut sends ahead of the client's credit. */
export const CP_OUT_WINDOW = 2 * 1024 * 1024;
