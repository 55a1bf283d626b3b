#!/usr/bin/env node
/**
 * A fake `jailer` for tests: checks its argv and the chroot layout the way
 * banger's contract needs, then starts the fake firecracker the way the real
 * jailer does (copy of the exec file in the chroot, `--id=<id>` first, uid and
 * gid dropped for real, environment cleared, pid written to
 * `<chroot>/<exec_file_name>.pid`, then exit 0 as with --new-pid-ns).
 *
 * It cannot pivot_root into the chroot (the fake firecracker is a Node
 * program that needs the host's files), so it passes FAKE_FC_CHROOT and the
 * fake firecracker resolves every path it is given inside that directory.
 * What the jail sees is checked from inside the jail's mount namespace: each
 * file under /boot, /drives, /logs, /snapshot and /restore of the chroot
 * must be a mount point there (a bind mount, not a copy or a hard link).
 */
import { spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

export interface RecordedJail {
  event: "jail";
  argv: string[];
  uid: number;
  chrootDir: string;
  /** In-jail paths that are mount points in the jail's namespace, with their size. */
  mounts: Record<string, number>;
}

function fail(message: string): never {
  process.stderr.write(`fake jailer: ${message}\n`);
  process.exit(1);
}

function parse(argv: string[]) {
  const dash = argv.indexOf("--");
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const fcArgs = dash < 0 ? [] : argv.slice(dash + 1);
  try {
    const { values } = parseArgs({
      args: own,
      strict: true,
      options: {
        id: { type: "string" },
        "exec-file": { type: "string" },
        uid: { type: "string" },
        gid: { type: "string" },
        "cgroup-version": { type: "string" },
        cgroup: { type: "string", multiple: true },
        "parent-cgroup": { type: "string" },
        "chroot-base-dir": { type: "string" },
        netns: { type: "string" },
        "resource-limit": { type: "string", multiple: true },
        daemonize: { type: "boolean" },
        "new-pid-ns": { type: "boolean" },
      },
    });
    return { values, fcArgs };
  } catch (e) {
    fail(`Arguments parsing error: ${(e as Error).message}`);
  }
}

/** Mount points (with the path inside the chroot) below chrootDir, from this namespace's mountinfo. */
function mountsUnder(chrootDir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((mp) => mp.startsWith(`${chrootDir}/`))
    .map((mp) => mp.slice(chrootDir.length));
}

function main(): void {
  const { values: v, fcArgs } = parse(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail("the jailer must run as root");
  const id = v.id ?? fail("--id is required");
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) fail(`invalid --id ${id}`);
  const exec = v["exec-file"] ?? fail("--exec-file is required");
  const execName = path.basename(exec);
  if (!path.isAbsolute(exec) || !execName.includes("firecracker")) fail(`bad --exec-file ${exec}`);
  const uid = Number(v.uid);
  const gid = Number(v.gid);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0 || gid <= 0) fail("bad --uid/--gid");
  const version = v["cgroup-version"] ?? "1";
  const fsTypes = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[2]);
  if (version !== "1" && version !== "2") fail(`--cgroup-version must be 1 or 2, got ${version}`);
  if (!fsTypes.includes(version === "1" ? "cgroup" : "cgroup2")) fail(`no cgroup v${version} hierarchy here`);
  if (fcArgs.some((a) => a === "--id" || a.startsWith("--id="))) fail("the jailer passes --id itself");
  const base = v["chroot-base-dir"] ?? "/srv/jailer";
  const chrootDir = path.join(base, execName, id, "root");
  mkdirSync(chrootDir, { recursive: true });
  const mounts: Record<string, number> = {};
  for (const m of mountsUnder(chrootDir)) mounts[m] = readFileSync(path.join(chrootDir, m)).length;
  for (const dir of ["boot", "drives", "logs", "snapshot", "restore"]) {
    let names: string[] = [];
    try {
      names = readdirSync(path.join(chrootDir, dir));
    } catch {
      /* no such directory in this jail */
    }
    for (const n of names)
      if (!(`/${dir}/${n}` in mounts)) fail(`/${dir}/${n} is in the chroot but not bind-mounted`);
  }
  if (process.env.FAKE_FC_RECORD) {
    const entry: RecordedJail = { event: "jail", argv: process.argv.slice(2), uid, chrootDir, mounts };
    appendFileSync(process.env.FAKE_FC_RECORD, `${JSON.stringify(entry)}\n`);
  }
  const copy = path.join(chrootDir, execName);
  copyFileSync(exec, copy);
  chmodSync(copy, 0o755);
  chownSync(chrootDir, uid, gid);
  const args = [`--id=${id}`, "--start-time-us=1", "--start-time-cpu-us=1", ...fcArgs];
  const child = spawn(copy, args, {
    uid,
    gid,
    detached: true,
    stdio: ["ignore", "inherit", "inherit"],
    env: { FAKE_FC_CHROOT: chrootDir },
  });
  child.once("error", (e) => fail(`cannot exec ${copy}: ${e.message}`));
  child.once("spawn", () => {
    writeFileSync(path.join(chrootDir, `${execName}.pid`), String(child.pid));
    child.unref();
    process.exit(0);
  });
}

main();
