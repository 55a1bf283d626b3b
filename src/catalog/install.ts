/** Installing a recipe's output, checking installed files, and progress text for pulls. */
import { constants } from "node:fs";
import { copyFile, cp, lstat, mkdir, rename, stat } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { MODULES_DIR, ROLE_FILE_NAMES } from "./bundle.js";
import type { DownloadProgress } from "./download.js";
import { type CatalogKind, REQUIRED_ROLES, type RecipeResult, type Role, rolesOf } from "./types.js";

function inside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/** Move (inside the recipe's work dir) or copy (elsewhere: caches) one file or directory. */
async function place(src: string, dest: string, workDir: string): Promise<void> {
  if (inside(workDir, src)) {
    try {
      await rename(src, dest);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    }
  }
  if ((await lstat(src)).isDirectory()) await cp(src, dest, { recursive: true, verbatimSymlinks: true });
  else await copyFile(src, dest, constants.COPYFILE_FICLONE);
}

function recipeError(recipe: string, message: string): BangerError {
  return new BangerError(ErrorCodes.INTERNAL, `recipe "${recipe}" ${message}`);
}

/**
 * Put a recipe's files into `staging` under their standard names; returns
 * the relative names by role. Files inside `workDir` are moved, others copied.
 */
export async function stageRecipeFiles(
  recipe: string,
  kind: CatalogKind,
  result: RecipeResult,
  workDir: string,
  staging: string,
): Promise<Partial<Record<Role, string>>> {
  const allowed = rolesOf(kind);
  for (const role of Object.keys(result.files)) {
    if (!allowed.includes(role as Role))
      throw recipeError(recipe, `returned an unknown ${kind} file "${role}"`);
  }
  for (const role of REQUIRED_ROLES[kind]) {
    if (!result.files[role]) throw recipeError(recipe, `returned no "${role}" file`);
  }
  await mkdir(staging, { mode: 0o755 });
  const names: Partial<Record<Role, string>> = {};
  for (const role of allowed) {
    const src = result.files[role];
    if (!src) continue;
    if (!path.isAbsolute(src)) throw recipeError(recipe, `returned a relative path for "${role}": ${src}`);
    const st = await stat(src).catch(() => null);
    if (!st) throw recipeError(recipe, `returned "${role}" ${src}, which does not exist`);
    const isDirRole = role === "modules";
    if (isDirRole ? !st.isDirectory() : !st.isFile()) {
      throw recipeError(
        recipe,
        `returned "${role}" ${src}, which is not a ${isDirRole ? "directory" : "file"}`,
      );
    }
    const name = isDirRole ? MODULES_DIR : ROLE_FILE_NAMES[role];
    await place(src, path.join(staging, name), workDir);
    names[role] = name;
  }
  return names;
}

/** Apparent size of the installed files (directories not counted). */
export async function installedSize(files: Partial<Record<Role, string>>): Promise<number> {
  let n = 0;
  for (const f of Object.values(files)) {
    if (!f) continue;
    const st = await stat(f);
    if (st.isFile()) n += st.size;
  }
  return n;
}

export interface FileChecks {
  checkExt4: (file: string) => Promise<string | null>;
  checkKernel: (file: string) => Promise<void>;
}

/** Refuse files that could never boot: non-ext4 disks, non-ELF kernels. */
export async function checkInstalled(
  kind: CatalogKind,
  name: string,
  files: Partial<Record<Role, string>>,
  checks: FileChecks,
): Promise<void> {
  const fail = (role: string, file: string, why: string) =>
    new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `${kind} "${name}": its ${role} ${path.basename(file)} ${why}`,
      {
        hint: "the bundle or recipe produced an unusable file: nothing was installed",
      },
    );
  for (const role of ["rootfs", "workSeed"] as const) {
    const f = files[role];
    if (!f) continue;
    const why = await checks.checkExt4(f);
    if (why) throw fail(role, f, `is unusable: ${why}`);
  }
  for (const role of ["kernel", "vmlinux"] as const) {
    const f = files[role];
    if (!f) continue;
    await checks.checkKernel(f).catch((e: Error) => {
      throw fail(role, f, `is unusable: ${e.message}`);
    });
  }
}

/** "12.5M", "1.2G": approximate sizes for progress lines. */
export function humanBytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)}${units[i]}`;
}

/** "downloading debian: 12.5M of 300M (4.2M/s, 1m9s left)". */
export function describeDownload(name: string, p: DownloadProgress): string {
  const of = p.total !== null ? ` of ${humanBytes(p.total)}` : "";
  const rate = p.rate > 0 ? `${humanBytes(p.rate)}/s` : "";
  const eta = p.eta !== null && p.rate > 0 ? `, ${formatEta(p.eta)} left` : "";
  return `downloading ${name}: ${humanBytes(p.current)}${of}${rate ? ` (${rate}${eta})` : ""}`;
}

function formatEta(s: number): string {
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}
