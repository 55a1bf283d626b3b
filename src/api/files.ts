/**
 * Streaming calls: input a client sends into a call in flight (exec stdin,
 * signals, terminal size; `vm cp` entries and data; flow-control credit), and
 * the `vm cp` methods' types. A call that takes input is told its request id
 * through `CallOptions.onId`; the client then sends `call.input` requests
 * naming that id, on the same connection, and awaits each one's (empty) result
 * before the window of unanswered inputs fills: that is the flow control.
 */

/** One file, directory or symlink of a copy; `path` is relative to the copy's root ("" for the root). */
export interface FileEntry {
  type: "file" | "dir" | "symlink";
  /** Permission bits (0..0o7777). */
  mode: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** Bytes of a file as the sender saw it when it started; 0 otherwise. */
  size: number;
  path: string;
  /** A symlink's target. */
  target?: string;
}

export interface CallInput {
  /** The request id of the exec / cp call in flight on this connection. */
  call: number;
  /** base64: exec stdin, or the bytes of the file entry sent last (vm.cpIn). */
  data?: string;
  /** exec: close the command's stdin; vm.cpIn: every entry was sent. */
  eof?: boolean;
  /** exec: send this signal (1..64) to the command's process group. */
  signal?: number;
  /** exec with a pty: the terminal's new size. */
  resize?: { rows: number; cols: number };
  /** vm.cpIn: the next entry; its data follows in `data` inputs. */
  entry?: FileEntry;
  /** vm.cpOut: the client wrote this many more bytes of file data. */
  credit?: number;
}

export interface CpInParams {
  name: string;
  /** Guest path: an existing directory receives `baseName` inside it, else it names the copy. */
  dest: string;
  /** The copy's name inside `dest` when `dest` is a directory (the source's base name). */
  baseName: string;
}

export interface CpOutParams {
  name: string;
  /** Guest path of a file or directory (symlinks inside are copied as links). */
  src: string;
}

export interface CpResult {
  entries: number;
  bytes: number;
  /** Entries the guest skipped (unreadable, special files): also sent as file-warning events. */
  warnings: number;
}

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
