/** Read an ext4 image's files with debugfs (read-only, no mounting) for test assertions. */
import { DEBUGFS_ENV, debugfsErrors, debugfsQuote } from "../../src/host/disk.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { CommandRunner } from "../../src/host/runner.js";

export interface Ext4Entry {
  name: string;
  /** Full mode with type bits, e.g. 0o100644. */
  mode: number;
  uid: number;
  gid: number;
}

export interface Ext4Stat {
  type: string;
  /** Permission bits, e.g. 0o755. */
  perm: number;
  uid: number;
  /** The target of a fast symlink. */
  link?: string;
}

const NOT_FOUND = /File not found by ext2_lookup/;

export class Ext4Inspector {
  constructor(
    readonly image: string,
    private readonly runner: CommandRunner = new NodeCommandRunner(),
  ) {}

  private async debugfs(request: string): Promise<{ stdout: string; missing: boolean }> {
    const r = await this.runner.run(["debugfs", "-R", request, this.image], { env: { ...DEBUGFS_ENV } });
    if (NOT_FOUND.test(r.stderr)) return { stdout: r.stdout, missing: true };
    const errors = debugfsErrors(r.stderr);
    if (errors.length > 0) throw new Error(`debugfs -R '${request}' ${this.image}: ${errors.join("; ")}`);
    return { stdout: r.stdout, missing: false };
  }

  /** A file's content, or null when absent. */
  async cat(p: string): Promise<string | null> {
    const r = await this.debugfs(`cat ${debugfsQuote(p)}`);
    return r.missing ? null : r.stdout;
  }

  async stat(p: string): Promise<Ext4Stat | null> {
    const r = await this.debugfs(`stat ${debugfsQuote(p)}`);
    if (r.missing) return null;
    const m = /Type:\s+(\S+)\s+Mode:\s+(\d+)/.exec(r.stdout);
    if (!m) throw new Error(`cannot parse debugfs stat of ${p}: ${r.stdout.slice(0, 200)}`);
    const uid = Number(/User:\s+(\d+)/.exec(r.stdout)?.[1] ?? "-1");
    const link = /Fast link dest: "(.*)"/.exec(r.stdout)?.[1];
    return { type: m[1]!, perm: Number.parseInt(m[2]!, 8), uid, ...(link === undefined ? {} : { link }) };
  }

  /** A directory's entries (without . and ..), or null when absent. */
  async ls(dir: string): Promise<Ext4Entry[] | null> {
    const r = await this.debugfs(`ls -p ${debugfsQuote(dir)}`);
    if (r.missing) return null;
    const out: Ext4Entry[] = [];
    for (const line of r.stdout.split("\n")) {
      const f = line.trim().split("/");
      // "/INODE/MODE/UID/GID/NAME/SIZE/"
      if (f.length < 7 || f[5] === "." || f[5] === ".." || f[5] === "") continue;
      out.push({ name: f[5]!, mode: Number.parseInt(f[2]!, 8), uid: Number(f[3]), gid: Number(f[4]) });
    }
    return out;
  }
}
