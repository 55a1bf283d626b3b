/**
 * The checks an entry point makes before loading anything else: the Node.js
 * it runs on, and (for the CLI) Node's on-disk compile cache.
 * Imports only node: built-ins so a too-old Node still reaches the message.
 */
import module from "node:module";
import os from "node:os";
import path from "node:path";

export const MIN_NODE_MAJOR = 24;

interface RuntimeFacts {
  version: string;
  lts: string | undefined;
  execPath: string;
  /** BANGER_NODE: the user chose this Node; then any release >= 24 will do. */
  chosen: boolean;
}

/** Why banger cannot run on this Node, or undefined when it can. */
export function runtimeProblem(f: RuntimeFacts): string | undefined {
  const major = Number(f.version.replace(/^v/, "").split(".")[0]);
  if (major >= MIN_NODE_MAJOR && (f.lts || f.chosen)) return undefined;
  const what = major >= MIN_NODE_MAJOR ? "not an LTS release" : "too old";
  return (
    `banger needs a maintained Node.js LTS, ${MIN_NODE_MAJOR} or newer: ${f.execPath} is ${f.version} (${what}).\n` +
    "Run scripts/install from banger's checkout: it installs banger's own Node, which bin/banger then uses. " +
    "Or set BANGER_NODE to a Node.js 24+ binary."
  );
}

/** Exit with a clear message when this Node cannot run banger. */
export function checkRuntime(): void {
  const problem = runtimeProblem({
    version: process.version,
    lts: process.release.lts,
    execPath: process.execPath,
    chosen: Boolean(process.env.BANGER_NODE),
  });
  if (problem === undefined) return;
  process.stderr.write(`error: ${problem}\n`);
  process.exit(1);
}

/** Where the CLI keeps Node's compile cache: ${XDG_CACHE_HOME:-~/.cache}/banger/compile-cache. */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, ".cache") : os.homedir());
  return base ? path.join(base, "banger", "compile-cache") : undefined;
}

/** Turn on Node's module compile cache; a cache that cannot be used only costs speed. */
export function enableCompileCache(): void {
  const dir = compileCacheDir();
  if (dir === undefined || typeof module.enableCompileCache !== "function") return;
  try {
    module.enableCompileCache(dir);
  } catch {
    /* no cache: start-up is slower, nothing else changes */
  }
}
