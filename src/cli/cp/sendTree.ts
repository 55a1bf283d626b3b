/**
 * The client's side of `vm cp SRC NAME:DEST`: walk the local tree without
 * following symlinks (the root itself is followed, like cp -r), and send each
 * entry and its bytes as call.input. Memory: one read chunk per input in
 * flight (InputSender's window).
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import path from "node:path";
import type { FileEntry } from "../../api/files.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { InputSender } from "../stream/InputSender.js";

/** Bytes per data input (base64 in a JSON line: about 350 KiB). */
export const SEND_CHUNK = 256 * 1024;

export interface SendStats {
  entries: number;
  bytes: number;
  skipped: string[];
}

type Stats = Awaited<ReturnType<typeof lstat>>;

function entryOf(st: Stats, rel: string, type: FileEntry["type"], target?: string): FileEntry {
  const ns = (st as unknown as { mtimeNs?: bigint }).mtimeNs;
  const mtimeNs = ns ?? BigInt(Math.round(Number(st.mtimeMs) * 1e6));
  return {
    type,
    mode: Number(st.mode) & 0o7777,
    mtimeSec: Number(mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(mtimeNs % 1_000_000_000n),
    size: type === "file" ? Number(st.size) : 0,
    path: rel,
    ...(target !== undefined ? { target } : {}),
  };
}

/** The source's root: it must exist and be a file or a directory. */
export async function statSource(src: string): Promise<Stats> {
  const st = await stat(src, { bigint: true }).catch((e: NodeJS.ErrnoException) => {
    throw new BangerError(ErrorCodes.NOT_FOUND, `cannot read ${src}: ${e.code ?? e.message}`);
  });
  if (!st.isFile() && !st.isDirectory()) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${src} is not a file or directory`);
  }
  return st as unknown as Stats;
}

async function sendFile(sender: InputSender, file: string, s: SendStats): Promise<void> {
  const rs = createReadStream(file, { highWaterMark: SEND_CHUNK });
  for await (const chunk of rs) {
    await sender.send({ data: (chunk as Buffer).toString("base64") });
    s.bytes += (chunk as Buffer).length;
  }
}

async function sendEntry(sender: InputSender, abs: string, rel: string, st: Stats, s: SendStats) {
  if (st.isDirectory()) {
    await sender.send({ entry: entryOf(st, rel, "dir") });
    s.entries++;
    const names = (await readdir(abs)).sort();
    for (const n of names) {
      const child = path.join(abs, n);
      const cst = await lstat(child, { bigint: true }).catch(() => null);
      if (!cst) s.skipped.push(`${child}: vanished`);
      else await sendEntry(sender, child, rel ? `${rel}/${n}` : n, cst as unknown as Stats, s);
    }
  } else if (st.isFile()) {
    await sender.send({ entry: entryOf(st, rel, "file") });
    s.entries++;
    await sendFile(sender, abs, s);
  } else if (st.isSymbolicLink()) {
    await sender.send({ entry: entryOf(st, rel, "symlink", await readlink(abs)) });
    s.entries++;
  } else {
    s.skipped.push(`${abs}: not a file, directory or symlink`);
  }
}

/** Send the tree at `src` (already checked by statSource), then eof. */
export async function sendTree(sender: InputSender, src: string, root: Stats): Promise<SendStats> {
  const s: SendStats = { entries: 0, bytes: 0, skipped: [] };
  await sendEntry(sender, src, "", root, s);
  await sender.send({ eof: true });
  await sender.drain();
  return s;
}
