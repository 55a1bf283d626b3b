/**
 * Never delete a tree that something is still mounted in: a recursive delete
 * would walk into the mounted filesystem, or into the host's /dev, /proc or
 * /sys through a bind mount (mmdebstrap and image builds make those).
 */
import { readFile, rm } from "node:fs/promises";
import path from "node:path";

/** Mount points at or below `dir` (from /proc/self/mountinfo; octal escapes decoded). */
export async function mountsUnder(dir: string, mountinfo = "/proc/self/mountinfo"): Promise<string[]> {
  const text = await readFile(mountinfo, "utf8").catch(() => "");
  const decode = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const root = path.resolve(dir);
  const points = text.split("\n").map((l) => decode(l.split(" ")[4] ?? ""));
  return points.filter((p) => p === root || p.startsWith(`${root}/`));
}

/** rm -rf DIR unless something is mounted below it; returns those mount points (empty when removed). */
export async function removeUnlessMounted(dir: string): Promise<string[]> {
  const mounted = await mountsUnder(dir);
  if (mounted.length === 0) await rm(dir, { recursive: true, force: true });
  return mounted;
}
