/**
 * `sysctl.set`: only net.ipv4.ip_forward. Turning it on records the caller's
 * uid in a root-owned marker directory (and the value found, once); turning
 * it off removes the caller's marker and restores the recorded value only
 * when no uid's marker remains. Markers are kept per network namespace
 * (keyed by the inode of /proc/self/ns/net), so a namespace's setting never
 * touches the host's.
 */

import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type HelperContext, HelperError } from "../context.js";

export interface SysctlPaths {
  /** Root-owned directory of marker directories (one per network namespace). */
  markerRoot: string;
  /** The sysctl's /proc file. */
  procFile: string;
  /** Identifies the network namespace the helper runs in (for its whole life, never a later one). */
  netnsKey(ctx: HelperContext): Promise<string>;
}

const LO_TOKEN = /^banger-netns:([0-9a-f]{16})$/;

/** `netns-<inode>-<token>`: the token is lo's ifalias, set once (unless lo already has an alias of someone else's). */
export async function netnsKeyOf(ctx: HelperContext): Promise<string> {
  const ino = statSync("/proc/self/ns/net").ino;
  const read = async () => {
    const r = await ctx.run(["ip", "-j", "link", "show", "dev", "lo"], { allowFailure: true });
    const [lo] = r.code === 0 ? (JSON.parse(r.stdout || "[]") as Array<{ ifalias?: string }>) : [];
    return lo?.ifalias ?? "";
  };
  let alias = await read();
  if (alias === "") {
    await ctx.run([
      "ip",
      "link",
      "set",
      "dev",
      "lo",
      "alias",
      `banger-netns:${randomBytes(8).toString("hex")}`,
    ]);
    alias = await read();
  }
  const token = LO_TOKEN.exec(alias)?.[1];
  return token ? `netns-${ino}-${token}` : `netns-${ino}`;
}

export const REAL_SYSCTL_PATHS: SysctlPaths = {
  markerRoot: "/run/banger/ip_forward",
  procFile: "/proc/sys/net/ipv4/ip_forward",
  netnsKey: netnsKeyOf,
};

/** Create the marker directories (0755), refusing any that is a symlink or not owned by the helper's uid. */
function safeDir(root: string, dir: string, selfUid: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const d of [path.dirname(root), root, dir]) {
    const st = lstatSync(d);
    if (!st.isDirectory() || st.uid !== selfUid) {
      throw new HelperError(
        "PERMISSION",
        `${d} is not a directory owned by uid ${selfUid}: refusing to use it`,
      );
    }
  }
}

function checkArgs(args: unknown): 0 | 1 {
  const a = (typeof args === "object" && args !== null ? args : {}) as { name?: unknown; value?: unknown };
  if (a.name !== "net.ipv4.ip_forward") {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `name: ${JSON.stringify(a.name)} is not a sysctl banger may set (only net.ipv4.ip_forward)`,
    );
  }
  if (a.value !== 0 && a.value !== 1) {
    throw new HelperError("INVALID_ARGUMENT", `value: ${JSON.stringify(a.value)} is not 0 or 1`);
  }
  return a.value;
}

/** The verb, over the given paths (tests pass a temporary directory and file). */
export function makeSysctlSet(paths: SysctlPaths) {
  return async (ctx: HelperContext, args: unknown): Promise<{ previous: string }> => {
    const value = checkArgs(args);
    const dir = path.join(paths.markerRoot, await paths.netnsKey(ctx));
    const self = process.getuid?.() ?? 0;
    safeDir(paths.markerRoot, dir, self);
    const current = readFileSync(paths.procFile, "utf8").trim();
    const original = path.join(dir, "original");
    const marker = path.join(dir, `uid-${ctx.uid}`);
    if (value === 1) {
      try {
        writeFileSync(original, `${current}\n`, { flag: "wx", mode: 0o644 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      writeFileSync(marker, "", { mode: 0o644 });
      if (current !== "1") writeFileSync(paths.procFile, "1\n");
      return { previous: current };
    }
    rmSync(marker, { force: true });
    const others = readdirSync(dir).filter((n) => n.startsWith("uid-"));
    if (others.length === 0) {
      let saved: string | null = null;
      try {
        saved = readFileSync(original, "utf8").trim();
      } catch {
        /* nothing recorded: nothing to restore */
      }
      if (saved === "0" || saved === "1") {
        if (saved !== current) writeFileSync(paths.procFile, `${saved}\n`);
      }
      rmSync(original, { force: true });
    }
    return { previous: current };
  };
}

export const sysctlSet = makeSysctlSet(REAL_SYSCTL_PATHS);
