import { constants } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { HostProbe } from "../probe.js";
import type { CommandRunner, RunResult } from "../runner.js";

/** The real host probe. */
export class NodeHostProbe implements HostProbe {
  readonly uid: number;
  readonly nodeVersion: string;

  constructor(
    private readonly runner: CommandRunner,
    readonly env: Readonly<Record<string, string | undefined>> = process.env,
    uid: number = process.getuid?.() ?? 0,
  ) {
    this.uid = uid;
    this.nodeVersion = process.versions.node;
  }

  async which(bin: string): Promise<string | null> {
    if (bin.includes("/")) return (await this.access(bin, constants.X_OK)) ? path.resolve(bin) : null;
    for (const dir of (this.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
      if (!dir) continue;
      const p = path.join(dir, bin);
      if (await this.access(p, constants.X_OK)) return p;
    }
    // Admin tools (ip, mkfs.ext4, debugfs) live in sbin, which a user's PATH may lack.
    for (const dir of ["/usr/sbin", "/sbin"]) {
      const p = path.join(dir, bin);
      if (await this.access(p, constants.X_OK)) return p;
    }
    return null;
  }

  async access(p: string, mode: number): Promise<boolean> {
    try {
      await fs.access(p, mode);
      return true;
    } catch {
      return false;
    }
  }

  exists(p: string): Promise<boolean> {
    return this.access(p, constants.F_OK);
  }

  async readText(p: string): Promise<string | null> {
    try {
      return await fs.readFile(p, "utf8");
    } catch {
      return null;
    }
  }

  async run(argv: readonly string[], timeoutMs = 5000): Promise<RunResult | null> {
    try {
      return await this.runner.run(argv, { allowFailure: true, timeoutMs });
    } catch {
      return null;
    }
  }

  async freeBytes(p: string): Promise<number | null> {
    let d = p;
    for (;;) {
      try {
        const s = await fs.statfs(d);
        return s.bavail * s.bsize;
      } catch {
        const up = path.dirname(d);
        if (up === d) return null;
        d = up;
      }
    }
  }

  async tryWrite(dir: string): Promise<string | null> {
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const f = path.join(dir, `.doctor-${process.pid}`);
      await fs.writeFile(f, "ok");
      await fs.rm(f);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }
}
