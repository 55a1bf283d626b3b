// Shared by the benchmarks: a throwaway HOME/XDG tree, the CLI run in it, and
// a cleanup that stops its daemon (by pid if need be) and removes the tree.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const banger = path.join(root, "bin", "banger");

export function benchSandbox(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const env = {
    PATH: process.env.PATH,
    HOME: path.join(dir, "home"),
    XDG_RUNTIME_DIR: path.join(dir, "run"),
    NO_COLOR: "1",
  };
  mkdirSync(env.HOME, { recursive: true });
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  return {
    dir,
    env,
    run: (args) => spawnSync(process.execPath, [banger, ...args], { env, encoding: "utf8" }),
    cleanup() {
      spawnSync(process.execPath, [banger, "daemon", "stop"], { env });
      try {
        const pid = Number(readFileSync(path.join(env.XDG_RUNTIME_DIR, "banger", "bangerd.pid"), "utf8"));
        if (pid) process.kill(pid, "SIGKILL");
      } catch {
        /* stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
