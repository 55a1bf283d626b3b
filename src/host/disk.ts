/**
 * e2fsprogs and coreutils argv builders for disk images. Pure. debugfs is
 * how banger writes into a VM's ext4 work disk without mounting it (it works
 * as a normal user); note that it exits 0 even when a command failed, so its
 * stderr must be checked (see checkDebugfsOutput).
 */

export const diskArgv = {
  /** Sparse copy: cost tracks the seed's used blocks, not its size. */
  sparseCopy: (src: string, dst: string) => ["cp", "--sparse=always", "--", src, dst],
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
  /** Check and fix without asking (resize2fs wants a fresh check first). */
  e2fsckForce: (file: string) => ["e2fsck", "-f", "-p", file],
  resize2fs: (file: string) => ["resize2fs", "-f", file],
  /** Run debugfs commands from a request file (`-f`), read-write. */
  debugfsScript: (file: string, scriptFile: string) => ["debugfs", "-w", "-f", scriptFile, file],
  debugfsRead: (file: string, command: string) => ["debugfs", "-R", command, file],
} as const;

/** Quote a path for a debugfs request line (it splits on spaces; double quotes group). */
export function debugfsQuote(p: string): string {
  if (/["\n\r]/.test(p)) throw new Error(`path not representable in a debugfs request: ${JSON.stringify(p)}`);
  return /\s/.test(p) ? `"${p}"` : p;
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
