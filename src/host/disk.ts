/**
 * e2fsprogs and coreutils argv builders for disk images. Pure. debugfs is
 * how banger writes into a VM's ext4 work disk without mounting it (it works
 * as a normal user); note that it exits 0 even when a command failed, so its
 * stderr must be checked (see debugfsErrors).
 */

export const diskArgv = {
  /** Sparse copy: cost tracks the seed's used blocks, not its size. */
  sparseCopy: (src: string, dst: string) => ["cp", "--sparse=always", "--", src, dst],
  /** A reflink where the filesystem has them, else a sparse copy (fork's RAM and disk copies). */
  cloneOrCopy: (src: string, dst: string) => ["cp", "--reflink=auto", "--sparse=always", "--", src, dst],
  /** Reflink clone (XFS, btrfs); fails where unsupported. */
  reflinkCopy: (src: string, dst: string) => ["cp", "--reflink=always", "--", src, dst],
  /** Grow (or create) a file sparsely to `bytes`. */
  truncate: (file: string, bytes: number) => ["truncate", "-s", String(bytes), "--", file],
  mkfsExt4: (file: string, label: string, fromDir?: string) => [
    "mkfs.ext4",
    "-F",
    "-q",
    "-L",
    label,
    "-E",
    "lazy_itable_init=1,lazy_journal_init=1",
    ...(fromDir ? ["-d", fromDir] : []),
    file,
  ],
  /** Check and fix without asking (resize2fs wants a fresh check first). Exit codes 0 and 1 mean success. */
  e2fsckForce: (file: string) => ["e2fsck", "-f", "-p", file],
  /** Grow the filesystem to fill its file. */
  resize2fs: (file: string) => ["resize2fs", "-f", file],
  /** Run debugfs commands from a request file (`-f`), read-write. */
  debugfsScript: (file: string, scriptFile: string) => ["debugfs", "-w", "-f", scriptFile, file],
  /** Run debugfs commands from a request file (`-f`), read-only. */
  debugfsQuery: (file: string, scriptFile: string) => ["debugfs", "-f", scriptFile, file],
  debugfsRead: (file: string, command: string) => ["debugfs", "-R", command, file],
  /** The superblock summary (block count, free blocks, features). */
  dumpe2fsHeader: (file: string) => ["dumpe2fs", "-h", file],
} as const;

/** Environment for debugfs: never page its output. */
export const DEBUGFS_ENV: Readonly<Record<string, string>> = { DEBUGFS_PAGER: "__none__", PAGER: "__none__" };

/** e2fsck -p exit codes that mean "the filesystem is consistent now". */
export const E2FSCK_OK_CODES: ReadonlySet<number> = new Set([0, 1]);

/**
 * Quote a path for a debugfs request line. debugfs splits on whitespace;
 * double quotes group, and inside them `""` is a literal quote. Newlines,
 * carriage returns and NUL cannot be represented.
 */
export function debugfsQuote(p: string): string {
  if (/[\n\r\0]/.test(p))
    throw new Error(`path not representable in a debugfs request: ${JSON.stringify(p)}`);
  return /[\s"]/.test(p) || p === "" ? `"${p.replace(/"/g, '""')}"` : p;
}

/**
 * debugfs prints its errors on stderr and exits 0. Lines that are merely the
 * banner ("debugfs 1.47.0 (...)") are not errors. Allowed messages (for
 * example "File exists" from an idempotent mkdir) can be ignored by pattern.
 */
export function debugfsErrors(stderr: string, allowed: RegExp[] = []): string[] {
  return stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^debugfs \d/.test(l))
    .filter((l) => !allowed.some((re) => re.test(l)));
}

/** debugfs's message for a path that does not exist ("/x: File not found by ext2_lookup"). */
export const DEBUGFS_NOT_FOUND = /File not found by ext2_lookup/;
/** debugfs's message when a path goes through a file ("/f/x: Ext2 inode is not a directory"). */
export const DEBUGFS_NOT_A_DIR = /Ext2 inode is not a directory/;

/**
 * Split the stdout of a `debugfs -f` run into one section per request line
 * (debugfs echoes each as "debugfs: REQUEST" before its output).
 */
export function debugfsSections(stdout: string): { request: string; output: string }[] {
  const out: { request: string; output: string }[] = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith("debugfs: ")) out.push({ request: line.slice(9), output: "" });
    else if (out.length > 0) out[out.length - 1]!.output += `${line}\n`;
  }
  return out;
}

/** The inode type of a `stat` output ("regular", "directory", "symlink", ...), or null when there is none. */
export function debugfsStatType(output: string): string | null {
  return /\bType:\s+(.+?)\s{2,}Mode:/.exec(output)?.[1] ?? /\bType:\s+(\S+)/.exec(output)?.[1] ?? null;
}

/**
 * Normalize a path relative to an image's root ("a/./b" -> "/a/b"). Throws
 * (with the reason) on absolute paths, `..`, NUL, newlines and empty paths.
 */
export function imagePath(rel: string): string {
  if (rel.includes("\0")) throw new Error("path contains a NUL byte");
  if (/[\n\r]/.test(rel)) throw new Error("path contains a line break");
  if (rel.startsWith("/")) throw new Error("path must be relative to the disk's root, not absolute");
  const parts = rel.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) throw new Error("path must not contain '..'");
  if (parts.length === 0) throw new Error("path names no file");
  return `/${parts.join("/")}`;
}

/** "/a/b/c" -> ["/a", "/a/b"]. */
export function imageParents(p: string): string[] {
  const parts = p.split("/").filter((c) => c !== "");
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}

/** One file for debugfsWriteRequests: its content already in a host file. */
export interface DebugfsWrite {
  /** Absolute path inside the image (see imagePath). */
  target: string;
  hostFile: string;
  /** Permission bits (0..0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Mode of parent directories it has to create (default 0o700). */
  dirMode?: number;
}

const octal = (n: number) => `0${n.toString(8)}`;

/**
 * The debugfs requests that write `files` into an image, given the inode
 * type of every target and parent that exists (`types`, from `stat`): missing
 * parents are made (mode 040700, root-owned), existing targets removed first
 * (`write` refuses to overwrite), and each file's mode/uid/gid set. Before
 * each file's requests comes `marker(i)` (when given), a request whose stderr
 * message tells which file later errors belong to. Throws when a parent is
 * not a directory or a target is a directory.
 */
export function debugfsWriteRequests(
  files: readonly DebugfsWrite[],
  types: ReadonlyMap<string, string>,
  marker?: (i: number) => string,
): string[] {
  const known = new Map(types);
  const lines: string[] = [];
  files.forEach((f, i) => {
    if (marker) lines.push(marker(i));
    for (const dir of imageParents(f.target)) {
      const t = known.get(dir);
      if (t === "directory") continue;
      if (t !== undefined) throw new Error(`${dir} exists and is a ${t}, not a directory`);
      const q = debugfsQuote(dir);
      lines.push(
        `mkdir ${q}`,
        `sif ${q} mode ${octal(0o40000 | (f.dirMode ?? 0o700))}`,
        `sif ${q} uid 0`,
        `sif ${q} gid 0`,
      );
      known.set(dir, "directory");
    }
    const q = debugfsQuote(f.target);
    const t = known.get(f.target);
    if (t === "directory") throw new Error(`${f.target} exists and is a directory`);
    if (t !== undefined) lines.push(`rm ${q}`);
    lines.push(
      `write ${debugfsQuote(f.hostFile)} ${q}`,
      `sif ${q} mode ${octal(0o100000 | f.mode)}`,
      `sif ${q} uid ${f.uid}`,
      `sif ${q} gid ${f.gid}`,
    );
    known.set(f.target, "regular");
  });
  return lines;
}

/**
 * A harmless request whose stderr message ("/.banger-file-NONCE-I: File not
 * found by ext2_lookup") marks where file I's requests begin.
 */
export function debugfsMarker(nonce: string, i: number): string {
  return `stat /.banger-file-${nonce}-${i}`;
}

/**
 * Turn the stderr of a run with debugfsMarker requests into messages naming
 * the file (from `names`) each error line belongs to. Lines before the first
 * marker (say, the image could not be opened) are kept as they are.
 */
export function debugfsErrorsByFile(stderr: string, nonce: string, names: readonly string[]): string[] {
  const marker = new RegExp(`^/\\.banger-file-${nonce}-(\\d+): `);
  let current: string | undefined;
  const out: string[] = [];
  for (const line of debugfsErrors(stderr)) {
    const m = marker.exec(line);
    if (m) current = names[Number(m[1])];
    else out.push(current === undefined ? line : `${current}: ${line}`);
  }
  return out;
}
