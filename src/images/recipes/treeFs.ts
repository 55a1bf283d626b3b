/**
 * File operations inside a guest's root tree, done by the host (as root).
 * A guest tree may hold absolute symlinks (/etc/resolv.conf ->
 * /run/...): following one would touch the HOST's file. So every parent of a
 * path must be a real directory, and a symlink at the path itself is
 * replaced, never followed.
 */
import { chmod, copyFile, lstat, mkdir, readdir, rm, symlink, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";

function outside(root: string, rel: string): BangerError {
  return new BangerError(ErrorCodes.INTERNAL, `refusing to touch ${rel} in ${root}: it leaves the tree`);
}

/** ROOT/REL, after checking REL stays inside and its parents are real directories (made when missing, 0755). */
export async function treePath(root: string, rel: string): Promise<string> {
  const parts = rel.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) throw outside(root, rel);
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = path.join(dir, part);
    const st = await lstat(dir).catch(() => undefined);
    if (st === undefined) await mkdir(dir, { mode: 0o755 });
    else if (!st.isDirectory()) {
      throw new BangerError(
        ErrorCodes.INTERNAL,
        `cannot write ${rel} in ${root}: ${path.relative(root, dir)} is not a directory`,
      );
    }
  }
  return path.join(dir, parts[parts.length - 1]!);
}

/** Write a file (replacing a file or symlink there) with exactly `mode`. */
export async function writeTreeFile(root: string, rel: string, content: string, mode = 0o644): Promise<void> {
  const p = await treePath(root, rel);
  const st = await lstat(p).catch(() => undefined);
  if (st?.isSymbolicLink()) await unlink(p);
  await writeFile(p, content, { mode });
  await chmod(p, mode);
}

/** Copy a host file into the tree at REL (replacing a file or symlink there) with exactly `mode`. */
export async function copyIntoTree(root: string, rel: string, hostFile: string, mode: number): Promise<void> {
  const p = await treePath(root, rel);
  const st = await lstat(p).catch(() => undefined);
  if (st?.isSymbolicLink()) await unlink(p);
  await copyFile(hostFile, p);
  await chmod(p, mode);
}

/** Make REL a symlink to TARGET (replacing what is there unless it is a directory). */
export async function linkInTree(root: string, rel: string, target: string): Promise<void> {
  const p = await treePath(root, rel);
  const st = await lstat(p).catch(() => undefined);
  if (st?.isDirectory()) throw new BangerError(ErrorCodes.INTERNAL, `${rel} in ${root} is a directory`);
  if (st) await unlink(p);
  await symlink(target, p);
}

/** Remove REL if present (files, links; directories recursively). */
export async function removeInTree(root: string, rel: string): Promise<void> {
  const p = await treePath(root, rel);
  await rm(p, { recursive: true, force: true });
}

/** True when REL exists (without following a final symlink). */
export async function existsInTree(root: string, rel: string): Promise<boolean> {
  const p = await treePath(root, rel).catch(() => undefined);
  return p !== undefined && (await lstat(p).catch(() => undefined)) !== undefined;
}

/** Remove every SSH host key (etc/ssh/ssh_host_*); returns the names removed. */
export async function removeHostKeys(root: string): Promise<string[]> {
  const dir = await treePath(root, "etc/ssh/x");
  const sshDir = path.dirname(dir);
  const names = (await readdir(sshDir).catch(() => [] as string[])).filter((n) => n.startsWith("ssh_host_"));
  for (const n of names) await rm(path.join(sshDir, n), { force: true });
  return names.sort();
}
