/** Streaming calls: input into a call in flight (call.input), and `vm cp` (vm.cpIn, vm.cpOut). See src/api/files.ts. */
import { z } from "zod";
import { Int, Name } from "./common.js";

const TerminalSize = z.strictObject({ rows: Int(1, 4096), cols: Int(1, 4096) });

export const FileEntry = z.strictObject({
  type: z.enum(["file", "dir", "symlink"]),
  /** Permission bits (0..0o7777). */
  mode: Int(0, 0o7777),
  mtimeSec: Int(-(2 ** 40), 2 ** 40),
  mtimeNsec: Int(0, 999_999_999),
  /** Bytes of a file as the sender saw it when it started; 0 otherwise. */
  size: Int(0, Number.MAX_SAFE_INTEGER),
  /** Relative to the copy's root ("" for the root). */
  path: z.string().max(4096),
  /** A symlink's target. */
  target: z.string().min(1).max(4096).optional(),
});

export const CallInput = z.strictObject({
  /** The request id of the exec / cp call in flight on this connection. */
  call: Int(0, Number.MAX_SAFE_INTEGER),
  /** base64: exec stdin, or the bytes of the file entry sent last (vm.cpIn). */
  data: z.base64("must be base64").optional(),
  /** exec: close the command's stdin; vm.cpIn: every entry was sent. */
  eof: z.boolean().optional(),
  /** exec: send this signal (1..64) to the command's process group. */
  signal: Int(1, 64).optional(),
  /** exec with a pty: the terminal's new size. */
  resize: TerminalSize.optional(),
  /** vm.cpIn: the next entry; its data follows in `data` inputs. */
  entry: FileEntry.optional(),
  /** vm.cpOut: the client wrote this many more bytes of file data. */
  credit: Int(0, Number.MAX_SAFE_INTEGER).optional(),
});

export const CpInParams = z.strictObject({
  name: Name,
  /** Guest path: an existing directory receives `baseName` inside it, else it names the copy. */
  dest: z.string().min(1).max(4096),
  /** The copy's name inside `dest` when `dest` is a directory (the source's base name). */
  baseName: z.string().min(1).max(255),
});

export const CpOutParams = z.strictObject({
  name: Name,
  /** Guest path of a file or directory (symlinks inside are copied as links). */
  src: z.string().min(1).max(4096),
});

export const CpResult = z.object({
  entries: z.number(),
  bytes: z.number(),
  /** Entries the guest skipped (unreadable, special files): also sent as file-warning events. */
  warnings: z.number(),
});

export { TerminalSize };
