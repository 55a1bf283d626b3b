/** Checks of `image build` input, all done before anything is copied or mounted. */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { ImageBuildParams } from "../api/methods.js";
import { BangerError, ErrorCodes } from "../errors/index.js";

export interface CopySpec {
  /** Absolute path on the host (file or directory). */
  src: string;
  /** Absolute, normalized path in the image. */
  dest: string;
}

export interface BuildPlan {
  copies: CopySpec[];
  packages: string[];
  script: string | undefined;
}

/** The files `image build` starts from (an image's files). */
export interface ImageBuildSource {
  rootfsPath: string;
  workSeedPath: string;
  kernelPath?: string | null;
  initrdPath?: string | null;
}

function invalid(field: string, message: string, hint?: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: ${message}`, hint ? { hint } : {});
}

/** A Debian package name, optionally with =VERSION, /RELEASE or :ARCH; never an option. */
export const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?([=/][A-Za-z0-9.+:~_-]+)?$/;

/**
 * "SRC:DEST": SRC an absolute host path, DEST an absolute path in the image.
 * Split at the first ":/" (so SRC must not contain ":/").
 */
export function parseCopySpec(spec: string): CopySpec {
  const i = spec.indexOf(":/");
  const hint = "use SRC:DEST with absolute paths, e.g. /home/me/app.conf:/etc/app.conf";
  if (i <= 0) throw invalid("--copy", `"${spec}" is not SRC:DEST`, hint);
  const src = spec.slice(0, i);
  const rawDest = spec.slice(i + 1);
  if (!path.isAbsolute(src)) throw invalid("--copy", `source "${src}" is not an absolute path`, hint);
  if (/[\0\n\r]/.test(spec)) throw invalid("--copy", `"${spec}" contains a control character`);
  if (rawDest.split("/").includes("..")) throw invalid("--copy", `destination "${rawDest}" contains ".."`);
  const dest = path.posix.normalize(rawDest);
  if (dest === "/") throw invalid("--copy", `destination "${rawDest}" is the image's root`, hint);
  if (path.resolve(src) === "/") throw invalid("--copy", "cannot copy the host's root directory");
  return { src: path.resolve(src), dest: dest.replace(/\/+$/, "") };
}

async function requireExists(field: string, p: string, kind: "file" | "any"): Promise<void> {
  const st = await stat(p).catch((e: NodeJS.ErrnoException) => {
    throw invalid(field, `cannot read ${p}: ${e.code ?? e.message}`);
  });
  if (kind === "file" && !st.isFile()) throw invalid(field, `${p} is not a regular file`);
}

/** Every problem with the parameters and source files, found before any work. */
export async function planBuild(params: ImageBuildParams, from: ImageBuildSource): Promise<BuildPlan> {
  await requireExists("from: rootfs", from.rootfsPath, "file");
  await requireExists("from: work seed", from.workSeedPath, "file");
  const copies = (params.copy ?? []).map(parseCopySpec);
  for (const c of copies) await requireExists("--copy", c.src, "any");
  const packages = params.install ?? [];
  for (const p of packages) {
    if (!PACKAGE_RE.test(p)) {
      throw invalid("--install", `"${p}" is not a Debian package name`, "e.g. --install build-essential");
    }
  }
  let script: string | undefined;
  if (params.script !== undefined) {
    if (!path.isAbsolute(params.script))
      throw invalid("--script", `"${params.script}" is not an absolute path`);
    await requireExists("--script", params.script, "file");
    script = params.script;
  }
  return { copies, packages, script };
}
