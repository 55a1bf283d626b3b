/**
 * Where cgroups live on this host, from /proc/self/mounts and /proc/PID/cgroup
 * text. Pure: no file system. Shared by the helper (which creates banger's
 * cgroups) and the daemon (which reads their limits and usage).
 *
 * banger's cgroups: <base>/banger/u<uid>/<vm id>, where <base> is, per v1
 * controller, the helper's own cgroup in that hierarchy (inside a container
 * that is the container's cgroup, so its limits still hold), and for v2 the
 * root of the unified hierarchy (v2 forbids controllers on a cgroup that
 * holds processes, which the helper's own cgroup does).
 */
import path from "node:path";

/** v1 controllers banger uses: limits on memory, pids, cpu; cpuacct for CPU usage. */
export const V1_CONTROLLERS = ["memory", "pids", "cpu", "cpuacct"] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupLayout {
  version: 1 | 2;
  /** v1: controller -> base directory; v2: { unified: base }. */
  bases: Record<string, string>;
}

/** A cgroup path (from /proc/PID/cgroup) under a mount point, without a trailing slash. */
function under(mount: string, cgPath: string): string {
  return path.join(mount, cgPath).replace(/(.)\/+$/, "$1");
}

export interface Mount {
  source: string;
  dir: string;
  type: string;
  opts: string[];
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function parseMounts(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 4) continue;
    out.push({ source: f[0]!, dir: unescapeMount(f[1]!), type: f[2]!, opts: f[3]!.split(",") });
  }
  return out;
}

/**
 * The mounts under /sys/fs/cgroup that PID 1 has, in order, to repeat in this
 * mount namespace when it has no cgroup mounts at all (`ip netns exec`
 * remounts /sys without them). Empty when this namespace has its own.
 */
export function mountsToMirror(selfMounts: string, pid1Mounts: string | null): Mount[] {
  const isCg = (m: Mount) => m.type === "cgroup" || m.type === "cgroup2";
  if (parseMounts(selfMounts).some(isCg) || pid1Mounts === null) return [];
  return parseMounts(pid1Mounts).filter(
    (m) => m.dir === "/sys/fs/cgroup" || (m.dir.startsWith("/sys/fs/cgroup/") && isCg(m)),
  );
}

/** /proc/PID/cgroup: hierarchy controllers ("" for v2) -> path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    const j = line.indexOf(":", i + 1);
    if (i < 0 || j < 0) continue;
    const path = line.slice(j + 1);
    const ctrls = line.slice(i + 1, j);
    if (ctrls === "") m.set("", path);
    for (const c of ctrls.split(",")) if (c) m.set(c, path);
  }
  return m;
}

/**
 * The layout: v1 when the memory controller has a v1 hierarchy, else v2 on
 * the cgroup2 mount. `selfCgroup` is /proc/self/cgroup of the helper. Null
 * when neither is usable.
 */
export function cgroupLayout(mountsText: string, selfCgroup: string): CgroupLayout | null {
  const mounts = parseMounts(mountsText);
  const self = parseProcCgroup(selfCgroup);
  const v1 = mounts.filter((m) => m.type === "cgroup");
  if (v1.some((m) => m.opts.includes("memory"))) {
    const bases: Record<string, string> = {};
    for (const c of V1_CONTROLLERS) {
      const m = v1.find((x) => x.opts.includes(c));
      if (!m) return null;
      bases[c] = under(m.dir, self.get(c) ?? "/");
    }
    return { version: 1, bases };
  }
  const v2 = mounts.find((m) => m.type === "cgroup2");
  return v2 ? { version: 2, bases: { unified: v2.dir } } : null;
}

/** The directories of one VM's cgroup (v1: one per controller, deduplicated by the caller if co-mounted). */
export function vmCgroupDirs(layout: CgroupLayout, uid: number, vm: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [c, base] of Object.entries(layout.bases)) out[c] = path.join(base, "banger", `u${uid}`, vm);
  return out;
}

/**
 * The directory of a process's cgroup for one controller ("unified" for v2),
 * from its /proc/PID/cgroup and the mounts; null when not found.
 */
export function processCgroupDir(
  mountsText: string,
  procCgroup: string,
  controller: V1Controller | "unified",
): string | null {
  const mounts = parseMounts(mountsText);
  const cg = parseProcCgroup(procCgroup);
  if (controller === "unified") {
    const m = mounts.find((x) => x.type === "cgroup2");
    const p = cg.get("");
    return m && p !== undefined ? under(m.dir, p) : null;
  }
  const m = mounts.find((x) => x.type === "cgroup" && x.opts.includes(controller));
  const p = cg.get(controller);
  return m && p !== undefined ? under(m.dir, p) : null;
}
