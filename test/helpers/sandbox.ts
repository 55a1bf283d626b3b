import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import { poll } from "../../src/util/poll.js";
import { repoRoot } from "./repoRoot.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A throwaway user: HOME, XDG dirs and runtime dir under one temp dir, so a
 * test's daemon, config and state never touch the real ones.
 */
export class Sandbox {
  readonly dir: string;
  readonly env: Record<string, string>;
  /** Every daemon pid seen, killed on cleanup. */
  readonly pids = new Set<number>();

  /** Prefix for every CLI run, e.g. ["ip", "netns", "exec", NS] so the daemon lives in a namespace. */
  wrap: string[] = [];

  constructor(extraEnv: Record<string, string> = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "bgt-"));
    const home = path.join(this.dir, "home");
    const run = path.join(this.dir, "run");
    mkdirSync(home, { recursive: true });
    mkdirSync(run, { recursive: true, mode: 0o700 });
    this.env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      XDG_RUNTIME_DIR: run,
      NO_COLOR: "1",
      ...extraEnv,
    };
  }

  get configFile(): string {
    return path.join(this.env.HOME!, ".config", "banger", "config.toml");
  }
  get stateDir(): string {
    return path.join(this.env.HOME!, ".local", "state", "banger");
  }
  get socket(): string {
    return path.join(this.env.XDG_RUNTIME_DIR!, "banger", "bangerd.sock");
  }

  writeConfig(text: string): void {
    mkdirSync(path.dirname(this.configFile), { recursive: true });
    writeFileSync(this.configFile, text);
  }

  /** Run a banger CLI (the repo's bin/banger by default) and collect its output. */
  cli(args: string[], opts: { bin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
    const bin = opts.bin ?? path.join(repoRoot(), "bin", "banger");
    return new Promise((resolve, reject) => {
      const argv = [...this.wrap, process.execPath, bin, ...args];
      const child = spawn(argv[0]!, argv.slice(1), {
        env: { ...this.env, ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b) => (stdout += b));
      child.stderr.on("data", (b) => (stderr += b));
      child.on("error", reject);
      child.on("close", (code) => {
        this.notePidFromFile();
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
  }

  async cliJson<T>(args: string[], opts?: { bin?: string }): Promise<T> {
    const r = await this.cli([...args, "--json"], opts);
    if (r.code !== 0) throw new Error(`banger ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return JSON.parse(r.stdout) as T;
  }

  daemonPid(): number | null {
    try {
      return Number(
        readFileSync(path.join(this.env.XDG_RUNTIME_DIR!, "banger", "bangerd.pid"), "utf8").trim(),
      );
    } catch {
      return null;
    }
  }

  private notePidFromFile(): void {
    const p = this.daemonPid();
    if (p) this.pids.add(p);
  }

  /** Kill every daemon this sandbox started (by pid) and remove the temp dir. */
  async cleanup(): Promise<void> {
    this.notePidFromFile();
    for (const pid of this.pids) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    for (const pid of this.pids) await waitDead(pid);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie is dead for our purposes
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export async function waitDead(pid: number, timeoutMs = 10_000): Promise<boolean> {
  return (await poll(() => !isAlive(pid), { timeoutMs, intervalMs: 20 })) ?? false;
}

/** A factory of sandboxes that are all cleaned up after the test file (call it at the file's top level). */
export function trackedSandboxes(env: Record<string, string> = {}): () => Sandbox {
  const made: Sandbox[] = [];
  after(async () => {
    for (const s of made) await s.cleanup();
  });
  return () => {
    const s = new Sandbox(env);
    made.push(s);
    return s;
  };
}
