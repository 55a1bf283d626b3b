/**
 * Strict validation of catalog files and bundle manifests: every problem,
 * each with the JSON path of its field. Unknown fields are problems too.
 */
import { ARCHES, type Arch } from "../model/ids.js";
import {
  type BundleFile,
  type BundleManifest,
  type BundleRef,
  type CatalogEntry,
  type CatalogFile,
  type CatalogKind,
  type FormatProblem,
  REQUIRED_ROLES,
  type Role,
  rolesOf,
} from "./types.js";

/** Catalog names: DNS-label-like (1-63 of a-z, 0-9 and `-`, not starting or ending with `-`). */
export const CATALOG_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const RECIPE_ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_VERSION = 64;
const MAX_DESCRIPTION = 1000;

type Obj = Record<string, unknown>;

/** Collects problems while reading fields out of untyped JSON. */
class Checker {
  readonly problems: FormatProblem[] = [];

  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  object(v: unknown, path: string, allowed: readonly string[]): Obj | null {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.add(path || "(top level)", `expected an object, got ${describe(v)}`);
      return null;
    }
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.add(join(path, k), `unknown field (allowed: ${allowed.join(", ")})`);
    }
    return v as Obj;
  }

  string(o: Obj, key: string, path: string, test?: (s: string) => string | null): string | undefined {
    const v = o[key];
    const at = join(path, key);
    if (typeof v !== "string") {
      this.add(at, v === undefined ? "is required" : `expected a string, got ${describe(v)}`);
      return undefined;
    }
    const why = test?.(v) ?? null;
    if (why !== null) this.add(at, why);
    return why === null ? v : undefined;
  }

  size(o: Obj, key: string, path: string): number | undefined {
    const v = o[key];
    const at = join(path, key);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.add(
        at,
        v === undefined ? "is required" : `expected a whole number of bytes >= 0, got ${describe(v)}`,
      );
      return undefined;
    }
    return v;
  }
}

export function join(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `${JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v)}`;
  return `${String(v)} (a ${typeof v})`;
}

const nameCheck = (s: string) =>
  CATALOG_NAME_RE.test(s)
    ? null
    : `"${s}" is not a valid name: use 1-63 lowercase letters, digits and "-", starting and ending with a letter or digit`;
const versionCheck = (s: string) =>
  s.length === 0 || s.length > MAX_VERSION || /[\s\p{Cc}]/u.test(s)
    ? `"${s}" is not a valid version: use 1-${MAX_VERSION} characters without spaces, e.g. "12.8-20261127"`
    : null;
const archCheck = (s: string) =>
  (ARCHES as readonly string[]).includes(s) ? null : `unsupported arch "${s}": use ${ARCHES.join(", ")}`;
const shaCheck = (s: string) => (SHA256_RE.test(s) ? null : "expected 64 lowercase hex characters");
const descriptionCheck = (s: string) =>
  s.length > MAX_DESCRIPTION ? `longer than ${MAX_DESCRIPTION} characters` : null;
const recipeCheck = (s: string) =>
  RECIPE_ID_RE.test(s) ? null : `"${s}" is not a valid recipe id (lowercase letters, digits, ".", "_", "-")`;

/** Parse a bundle URL, resolving a relative one against `base`; a reason when it is unusable. */
export function resolveBundleUrl(url: string, base: string | null): { url: string } | { problem: string } {
  let u: URL;
  try {
    u = base === null ? new URL(url) : new URL(url, base);
  } catch {
    return { problem: `"${url}" is not a URL${base === null ? " (relative URLs need a catalog URL)" : ""}` };
  }
  if (!["http:", "https:", "file:"].includes(u.protocol)) {
    return { problem: `"${url}" uses ${u.protocol.slice(0, -1)}: only http://, https:// and file:// work` };
  }
  return { url: u.href };
}

function checkBundleRef(c: Checker, v: unknown, at: string, base: string | null): BundleRef | undefined {
  const o = c.object(v, at, ["url", "sha256", "sizeBytes"]);
  if (!o) return undefined;
  const raw = c.string(o, "url", at);
  const sha256 = c.string(o, "sha256", at, shaCheck);
  const sizeBytes = c.size(o, "sizeBytes", at);
  let url: string | undefined;
  if (raw !== undefined) {
    const r = resolveBundleUrl(raw, base);
    if ("problem" in r) c.add(join(at, "url"), r.problem);
    else url = r.url;
  }
  return url && sha256 && sizeBytes !== undefined ? { url, sha256, sizeBytes } : undefined;
}

const ENTRY_FIELDS = ["name", "version", "arch", "description", "sizeBytes", "bundle", "recipe"];

function checkEntry(
  c: Checker,
  v: unknown,
  at: string,
  kind: CatalogKind,
  base: string | null,
): CatalogEntry | null {
  const o = c.object(v, at, kind === "image" ? [...ENTRY_FIELDS, "kernel"] : ENTRY_FIELDS);
  if (!o) return null;
  const before = c.problems.length;
  const e: CatalogEntry = {
    name: c.string(o, "name", at, nameCheck) ?? "",
    version: c.string(o, "version", at, versionCheck) ?? "",
    arch: (c.string(o, "arch", at, archCheck) ?? "x86_64") as Arch,
    description: c.string(o, "description", at, descriptionCheck) ?? "",
    sizeBytes: c.size(o, "sizeBytes", at) ?? 0,
  };
  if (kind === "image" && o.kernel !== undefined) e.kernel = c.string(o, "kernel", at, nameCheck);
  if (o.bundle !== undefined) e.bundle = checkBundleRef(c, o.bundle, join(at, "bundle"), base);
  if (o.recipe !== undefined) e.recipe = c.string(o, "recipe", at, recipeCheck);
  if (o.bundle === undefined && o.recipe === undefined) {
    c.add(at, 'has neither a "bundle" nor a "recipe": it could not be pulled');
  }
  return c.problems.length === before ? e : null;
}

/**
 * Validate a parsed catalog file of the given kind. `base` is the catalog's
 * own URL (relative bundle URLs resolve against it), null for the embedded one.
 */
export function validateCatalog(
  raw: unknown,
  kind: CatalogKind,
  base: string | null,
): { catalog: CatalogFile | null; problems: FormatProblem[] } {
  const c = new Checker();
  const o = c.object(raw, "", ["format", "kind", "entries"]);
  if (!o) return { catalog: null, problems: c.problems };
  if (o.format !== 1) c.add("format", `expected 1, got ${describe(o.format)}`);
  if (o.kind !== kind)
    c.add("kind", `expected "${kind}" (this is the ${kind} catalog), got ${describe(o.kind)}`);
  if (!Array.isArray(o.entries)) {
    c.add(
      "entries",
      o.entries === undefined ? "is required" : `expected an array, got ${describe(o.entries)}`,
    );
    return { catalog: null, problems: c.problems };
  }
  const entries: CatalogEntry[] = [];
  const seen = new Map<string, number>();
  o.entries.forEach((v, i) => {
    const e = checkEntry(c, v, join("entries", i), kind, base);
    const name = (v as Obj | null)?.name;
    if (typeof name === "string" && seen.has(name)) {
      c.add(join(join("entries", i), "name"), `"${name}" is already the name of entries[${seen.get(name)}]`);
    } else if (typeof name === "string") seen.set(name, i);
    if (e) entries.push(e);
  });
  if (c.problems.length > 0) return { catalog: null, problems: c.problems };
  return { catalog: { format: 1, kind, entries }, problems: [] };
}

/** A safe relative path inside a bundle: no absolute path, no `..`, no `.` segments, no backslashes. */
export function bundlePathProblem(p: string): string | null {
  if (p.length === 0) return "is empty";
  if (p.startsWith("/")) return `"${p}" is an absolute path`;
  if (p.includes("\\") || p.includes("\0")) return `"${p}" contains a backslash or NUL`;
  const parts = p.split("/");
  if (parts.some((s) => s === "..")) return `"${p}" leaves the bundle ("..")`;
  if (parts.some((s) => s === "" || s === ".")) return `"${p}" is not a normalized path`;
  if (p === "manifest.json") return '"manifest.json" is reserved';
  return null;
}

function checkBundleFile(c: Checker, v: unknown, at: string): BundleFile | null {
  const o = c.object(v, at, ["path", "sizeBytes", "sha256"]);
  if (!o) return null;
  const path = c.string(o, "path", at, bundlePathProblem);
  const sizeBytes = c.size(o, "sizeBytes", at);
  const sha256 = c.string(o, "sha256", at, shaCheck);
  return path !== undefined && sizeBytes !== undefined && sha256 !== undefined
    ? { path, sizeBytes, sha256 }
    : null;
}

function checkManifestFiles(c: Checker, v: unknown, kind: CatalogKind): BundleManifest["files"] {
  const roles = rolesOf(kind);
  const o = c.object(v, "files", roles);
  const files: BundleManifest["files"] = {};
  if (!o) return files;
  const paths = new Map<string, string>();
  for (const role of roles) {
    if (o[role] === undefined) {
      if (REQUIRED_ROLES[kind].includes(role)) c.add(join("files", role), "is required");
      continue;
    }
    const f = checkBundleFile(c, o[role], join("files", role));
    if (!f) continue;
    const other = paths.get(f.path);
    if (other) c.add(join(join("files", role), "path"), `"${f.path}" is also the path of files.${other}`);
    paths.set(f.path, role);
    files[role as Role] = f;
  }
  return files;
}

/** Validate a parsed manifest.json of a bundle expected to be of `kind`. */
export function validateManifest(
  raw: unknown,
  kind: CatalogKind,
): { manifest: BundleManifest | null; problems: FormatProblem[] } {
  const c = new Checker();
  const o = c.object(raw, "", ["format", "kind", "name", "version", "arch", "files"]);
  if (!o) return { manifest: null, problems: c.problems };
  if (o.format !== 1) c.add("format", `expected 1, got ${describe(o.format)}`);
  if (o.kind !== kind) c.add("kind", `expected "${kind}", got ${describe(o.kind)}`);
  const name = c.string(o, "name", "", nameCheck);
  const version = c.string(o, "version", "", versionCheck);
  const arch = c.string(o, "arch", "", archCheck);
  const files = checkManifestFiles(c, o.files, kind);
  if (c.problems.length > 0 || !name || !version || !arch) return { manifest: null, problems: c.problems };
  return { manifest: { format: 1, kind, name, version, arch: arch as Arch, files }, problems: [] };
}

/** "a: x; b: y" for messages. */
export function formatProblems(problems: readonly FormatProblem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join("; ");
}
