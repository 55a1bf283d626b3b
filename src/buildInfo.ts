import { readFileSync } from "node:fs";

export interface BuildInfo {
  /** package.json's version (semver). */
  version: string;
  /** A content hash of the compiled code: tells builds apart, has no order. */
  buildId: string;
  /** ISO time of the build: orders two builds of the same version. */
  builtAt: string;
}

let cached: BuildInfo | undefined;

/** The version and build id written by scripts/write-build-info.mjs next to the compiled code. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  try {
    cached = JSON.parse(readFileSync(new URL("../build-info.json", import.meta.url), "utf8")) as BuildInfo;
  } catch {
    cached = { version: "0.0.0-dev", buildId: "unbuilt", builtAt: "" };
  }
  return cached;
}

interface SemVer {
  core: [number, number, number];
  pre: string[];
}

/** MAJOR.MINOR.PATCH[-PRE][+BUILD]; null when it is not one. */
export function parseSemver(v: string): SemVer | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return null;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split(".") : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return Math.sign(b.length - a.length); // a release ranks above its pre-releases
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny && Number(x) !== Number(y)) return Number(x) < Number(y) ? -1 : 1;
    if (nx !== ny) return nx ? -1 : 1; // numeric identifiers rank below alphanumeric ones
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Semver precedence (semver.org §11). An unparsable version ranks below every
 * valid one, so a broken build never outranks a real release.
 */
export function compareVersions(a: string, b: string): number {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : 0;
  for (let i = 0; i < 3; i++) if (pa.core[i] !== pb.core[i]) return pa.core[i]! < pb.core[i]! ? -1 : 1;
  return comparePre(pa.pre, pb.pre);
}

/**
 * Order two builds: by version, then by build time (a missing time is oldest).
 * 0 means they cannot be ordered (same version and time); the build id, a
 * content hash, is never used for ordering.
 */
export function compareBuilds(
  a: Pick<BuildInfo, "version" | "builtAt">,
  b: Pick<BuildInfo, "version" | "builtAt">,
): number {
  const v = compareVersions(a.version, b.version);
  if (v !== 0) return v;
  const ta = Date.parse(a.builtAt ?? "");
  const tb = Date.parse(b.builtAt ?? "");
  const na = Number.isNaN(ta) ? -1 : ta;
  const nb = Number.isNaN(tb) ? -1 : tb;
  return na === nb ? 0 : na < nb ? -1 : 1;
}

/** "0.1.0, built 2026-12-05 11:02 UTC" for messages. */
export function describeBuild(b: Pick<BuildInfo, "version" | "builtAt">): string {
  const t = Date.parse(b.builtAt ?? "");
  if (Number.isNaN(t)) return `${b.version}, build time unknown`;
  return `${b.version}, built ${new Date(t).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
