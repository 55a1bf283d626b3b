/**
 * cgroup.create / cgroup.attach / cgroup.remove: one cgroup per VM at
 * <base>/banger/u<caller uid>/<vm id> (see cgroupLayout.ts), with a memory
 * limit, a pids limit and a CPU quota; only VMM processes of the caller's VMM
 * uid may be moved in. Every argument is validated; a caller only ever names
 * its own u<uid> subtree.
 */
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { waitFor } from "../../util/poll.js";
import { type CgroupLayout, cgroupLayout, mountsToMirror, vmCgroupDirs } from "../cgroupLayout.js";
import type { HelperContext } from "../context.js";
import { HelperError, trustedRun } from "../context.js";
import type { CgroupInfo, CgroupLimits } from "../protocol.js";

type VerbHandler = (ctx: HelperContext, args: unknown) => Promise<unknown>;

/** The file system operations the verbs need (real: cgroupfs and /proc; tests: a fake). */
export interface CgroupEnv {
  layout(): Promise<CgroupLayout | null>;
  /** File contents, or null when absent. */
  read(file: string): Promise<string | null>;
  write(file: string, text: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  /** Remove an empty cgroup directory; false when it does not exist. */
  rmdir(dir: string): Promise<boolean>;
  procRoot: string;
}

export const LIMIT_BOUNDS = {
  memoryBytes: { min: 32 * 1024 ** 2, max: 4 * 1024 ** 4 },
  pids: { min: 16, max: 65_536 },
  cpus: { min: 1, max: 1024 },
} as const;

/** CFS period for the v1/v2 CPU quota (100 ms, the kernel's default). */
export const CPU_PERIOD_US = 100_000;

const VM_ID_RE = /^[0-9a-f]{16}$/;
const VMM_COMM_RE = /^(qemu-system-[A-Za-z0-9_.-]+|firecracker|jailer)$/;

export function checkVmId(vm: unknown): string {
  if (typeof vm !== "string" || !VM_ID_RE.test(vm)) {
    throw new HelperError(
      "INVALID_ARGUMENT",
      `vm: ${JSON.stringify(vm)} is not a VM id (16 lowercase hex digits)`,
    );
  }
  return vm;
}

export function checkLimits(v: unknown): CgroupLimits {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [k, b] of Object.entries(LIMIT_BOUNDS)) {
    const n = o[k];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < b.min || n > b.max) {
      throw new HelperError(
        "INVALID_ARGUMENT",
        `limits.${k}: ${JSON.stringify(n)} is not an integer between ${b.min} and ${b.max}`,
      );
    }
    out[k] = n;
  }
  return out as unknown as CgroupLimits;
}

function checkPid(pid: unknown): number {
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid < 2 || pid > 4_194_304) {
    throw new HelperError("INVALID_ARGUMENT", `pid: ${JSON.stringify(pid)} is not a process id`);
  }
  return pid;
}

async function layoutOf(env: CgroupEnv): Promise<CgroupLayout> {
  const l = await env.layout();
  if (!l) throw new HelperError("NOT_FOUND", "no usable cgroup hierarchy (memory, pids, cpu) is mounted");
  return l;
}

/** The limit files of one VM's cgroup, for its version. */
export function limitFiles(
  version: 1 | 2,
  dirs: Record<string, string>,
  l: CgroupLimits,
): Array<[string, string]> {
  const quota = String(l.cpus * CPU_PERIOD_US);
  if (version === 2) {
    const d = dirs.unified!;
    return [
      [`${d}/memory.max`, String(l.memoryBytes)],
      [`${d}/pids.max`, String(l.pids)],
      [`${d}/cpu.max`, `${quota} ${CPU_PERIOD_US}`],
    ];
  }
  return [
    [`${dirs.memory}/memory.limit_in_bytes`, String(l.memoryBytes)],
    [`${dirs.pids}/pids.max`, String(l.pids)],
    [`${dirs.cpu}/cpu.cfs_period_us`, String(CPU_PERIOD_US)],
    [`${dirs.cpu}/cpu.cfs_quota_us`, quota],
  ];
}

/** v2: enable the controllers for the children of every level above the VM's cgroup. */
async function enableV2Controllers(env: CgroupEnv, base: string, uid: number): Promise<void> {
  for (const dir of [base, `${base}/banger`, `${base}/banger/u${uid}`]) {
    await env.mkdirp(dir);
    await env.write(`${dir}/cgroup.subtree_control`, "+memory +pids +cpu");
  }
}

async function create(env: CgroupEnv, ctx: HelperContext, args: unknown): Promise<CgroupInfo> {
  const a = (args ?? {}) as { vm?: unknown; limits?: unknown };
  const vm = checkVmId(a.vm);
  const limits = checkLimits(a.limits);
  const layout = await layoutOf(env);
  const dirs = vmCgroupDirs(layout, ctx.uid, vm);
  if (layout.version === 2) await enableV2Controllers(env, layout.bases.unified!, ctx.uid);
  for (const d of new Set(Object.values(dirs))) await env.mkdirp(d);
  for (const [file, value] of limitFiles(layout.version, dirs, limits)) await env.write(file, value);
  return { version: layout.version, paths: dirs, limits };
}

/** Throws PERMISSION unless `pid` is a VMM process (by comm) owned by the caller's VMM uid. */
async function requireVmmProcess(env: CgroupEnv, ctx: HelperContext, pid: number): Promise<void> {
  const status = await env.read(`${env.procRoot}/${pid}/status`);
  const comm = (await env.read(`${env.procRoot}/${pid}/comm`))?.trim();
  if (status === null || comm === undefined) throw new HelperError("NOT_FOUND", `no process ${pid}`);
  const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(status)?.slice(1).map(Number);
  if (!uids || ctx.vmmUid < 0 || uids.some((u) => u !== ctx.vmmUid)) {
    throw new HelperError(
      "PERMISSION",
      `process ${pid} runs as uid ${uids?.join("/") ?? "?"}, not as the VMM uid ${ctx.vmmUid}`,
    );
  }
  if (!VMM_COMM_RE.test(comm)) {
    throw new HelperError("PERMISSION", `process ${pid} (${JSON.stringify(comm)}) is not a VMM`);
  }
}

async function attach(env: CgroupEnv, ctx: HelperContext, args: unknown): Promise<null> {
  const a = (args ?? {}) as { vm?: unknown; pid?: unknown };
  const vm = checkVmId(a.vm);
  const pid = checkPid(a.pid);
  const layout = await layoutOf(env);
  const dirs = [...new Set(Object.values(vmCgroupDirs(layout, ctx.uid, vm)))];
  for (const d of dirs) {
    if ((await env.read(`${d}/cgroup.procs`)) === null) {
      throw new HelperError("NOT_FOUND", `VM ${vm} has no cgroup at ${d}: create it first`);
    }
  }
  await requireVmmProcess(env, ctx, pid);
  for (const d of dirs) await env.write(`${d}/cgroup.procs`, String(pid));
  return null;
}

/** How long remove waits for exited VMM processes (zombies) to be reaped and leave the cgroup. */
const REAP_WAIT_MS = 5000;

/** The cgroup's processes that still run (an exited, unreaped one leaves when its parent reaps it). */
async function liveProcs(env: CgroupEnv, dir: string): Promise<{ all: string[]; live: string[] }> {
  const all = ((await env.read(`${dir}/cgroup.procs`)) ?? "").split("\n").filter(Boolean);
  const live: string[] = [];
  for (const pid of all) {
    const stat = await env.read(`${env.procRoot}/${pid}/stat`);
    if (stat !== null && !/^Z/.test(stat.slice(stat.lastIndexOf(")") + 1).trim())) live.push(pid);
  }
  return { all, live };
}

async function remove(env: CgroupEnv, ctx: HelperContext, args: unknown): Promise<null> {
  const vm = checkVmId((args as { vm?: unknown } | null)?.vm);
  const layout = await layoutOf(env);
  for (const d of new Set(Object.values(vmCgroupDirs(layout, ctx.uid, vm)))) {
    let unreaped: string[] = [];
    const empty = async () => {
      const { all, live } = await liveProcs(env, d);
      if (live.length > 0) {
        throw new HelperError("CONFLICT", `the cgroup ${d} still holds running processes ${live.join(", ")}`);
      }
      unreaped = all;
      return all.length === 0;
    };
    await waitFor(empty, {
      timeoutMs: REAP_WAIT_MS,
      intervalMs: 50,
      what: `the cgroup ${d} to empty`,
      onTimeout: () =>
        new HelperError(
          "CONFLICT",
          `the cgroup ${d} still holds exited, unreaped processes ${unreaped.join(", ")}`,
        ),
    });
    await env.rmdir(d);
  }
  return null;
}

const PROC = "/proc";

/** The real cgroupfs and /proc. */
export const realCgroupEnv: CgroupEnv = {
  async layout() {
    const [mounts, pid1, self] = await Promise.all([
      readFile(`${PROC}/self/mounts`, "utf8"),
      readFile(`${PROC}/1/mounts`, "utf8").catch(() => null),
      readFile(`${PROC}/self/cgroup`, "utf8"),
    ]);
    const mirror = mountsToMirror(mounts, pid1);
    if (mirror.length === 0) return cgroupLayout(mounts, self);
    // This mount namespace (made by `ip netns exec`, say) lacks the cgroup file systems: mount
    // the same hierarchies here, as PID 1 has them. It changes only this namespace.
    for (const m of mirror) {
      await mkdir(m.dir, { recursive: true }).catch(() => undefined);
      await trustedRun(["mount", "-t", m.type, "-o", m.opts.join(","), m.source, m.dir]);
    }
    return cgroupLayout(await readFile(`${PROC}/self/mounts`, "utf8"), self);
  },
  read: (file) => readFile(file, "utf8").catch(() => null),
  write: async (file, text) => {
    try {
      await writeFile(file, text);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new HelperError("COMMAND_FAILED", `writing ${JSON.stringify(text)} to ${file}: ${why}`);
    }
  },
  mkdirp: async (dir) => {
    await mkdir(dir, { recursive: true });
  },
  rmdir: async (dir) => {
    try {
      await rmdir(dir);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw new HelperError("COMMAND_FAILED", `removing ${dir}: ${(e as Error).message}`);
    }
  },
  procRoot: PROC,
};

/** The three verbs over one environment. */
export function cgroupVerbs(
  env: CgroupEnv,
): Record<"cgroup.create" | "cgroup.attach" | "cgroup.remove", VerbHandler> {
  return {
    "cgroup.create": (ctx, args) => create(env, ctx, args),
    "cgroup.attach": (ctx, args) => attach(env, ctx, args),
    "cgroup.remove": (ctx, args) => remove(env, ctx, args),
  };
}
