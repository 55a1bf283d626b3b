import path from "node:path";
import type { Env } from "./paths.js";
import { expandHome } from "./paths.js";
import {
  formatDuration,
  formatSize,
  MiB,
  type Parsed,
  TiB,
  tryParseDuration,
  tryParseSize,
} from "./sizes.js";
import { didYouMean } from "./suggest.js";

/*
 * The value checkers of config.toml: each takes a raw TOML value and returns the
 * resolved value or a message. validate.ts adds the field paths.
 */

export const MEMORY_MIN_MIB = 128;
export const MEMORY_MAX_MIB = TiB / MiB;
export const DISK_MIN_BYTES = 64 * MiB;

export type RawTable = Record<string, unknown>;
/** Check one value: the resolved value, or a message saying what is wrong. */
export type Check<T> = (v: unknown) => Parsed<T>;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(message: string): Parsed<T> => ({ ok: false, message });

export function isTable(v: unknown): v is RawTable {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** A value as the user wrote it, with its TOML type: `"x" (a string)`, `42 (an integer)`. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return `${JSON.stringify(v)} (a string)`;
  if (typeof v === "number") return `${v} (${Number.isInteger(v) ? "an integer" : "a float"})`;
  if (typeof v === "bigint") return `${v} (an integer)`;
  if (typeof v === "boolean") return `${v} (a boolean)`;
  if (v instanceof Date) return `${v.toISOString()} (a date)`;
  if (Array.isArray(v)) return "an array";
  if (isTable(v)) return "a table";
  return String(v);
}

const expected = <T>(what: string, v: unknown): Parsed<T> => bad(`expected ${what}, got ${describeValue(v)}`);

function str(check: (s: string) => Parsed<string>): Check<string> {
  return (v) => (typeof v === "string" ? check(v) : expected("a string", v));
}

export function checkOneOf<T extends string>(values: readonly T[]): Check<T> {
  return (v) => {
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return ok(v as T);
    const list = values.map((x) => `"${x}"`).join(", ");
    const hint = typeof v === "string" ? didYouMean(v, values) : "";
    return bad(`expected one of ${list}, got ${describeValue(v)}${hint}`);
  };
}

export function checkIntRange(min: number, max: number): Check<number> {
  return (v) => {
    if (typeof v !== "number" || !Number.isInteger(v)) return expected(`an integer from ${min} to ${max}`, v);
    if (v < min || v > max) return bad(`${v} is out of range: use an integer from ${min} to ${max}`);
    return ok(v);
  };
}

export const checkBool: Check<boolean> = (v) =>
  typeof v === "boolean" ? ok(v) : expected("true or false", v);

/** `~/` expanded against HOME, a message when HOME is unusable. */
function expand(s: string, env: Env): Parsed<string> {
  try {
    return ok(expandHome(s, env));
  } catch {
    return bad(`"${s}" starts with ~ but HOME is not set to an absolute path`);
  }
}

export function checkAbsPath(env: Env): Check<string> {
  return str((s) => {
    if (s === "") return bad("must not be empty: remove the key to use the default");
    if (s.includes("\0")) return bad("must not contain a NUL byte");
    const e = expand(s, env);
    if (!e.ok) return e;
    if (!path.isAbsolute(e.value)) return bad(`"${s}" is not an absolute path: use /... or ~/...`);
    return ok(path.normalize(e.value));
  });
}

export const IMAGE_NAME_RE = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;

export const checkImageName: Check<string> = str((s) =>
  IMAGE_NAME_RE.test(s)
    ? ok(s)
    : bad(
        `"${s}" is not a valid image name: use 1-63 lowercase letters, digits, "-" or ".", starting and ending with a letter or digit`,
      ),
);

export const checkPollInterval: Check<number> = (v) => {
  if (typeof v !== "string" && typeof v !== "number") return expected('a duration like "5s" or seconds', v);
  const r = tryParseDuration(v);
  if (!r.ok) return r;
  if (r.value < 1000 || r.value > 3_600_000) {
    return bad(`${formatDuration(r.value)} is out of range: use a duration from 1s to 1h`);
  }
  return r;
};

/** config auto_suspend_after: a duration from 10s to 7d ("15m", "1h"). */
export const checkIdleTimeout: Check<number | null> = (v) => {
  if (typeof v !== "string" && typeof v !== "number") return expected('a duration like "15m"', v);
  const r = tryParseDuration(v);
  if (!r.ok) return r;
  if (r.value < 10_000 || r.value > 7 * 86_400_000) {
    return bad(`${formatDuration(r.value)} is out of range: use a duration from 10s to 7d`);
  }
  return r;
};

export const checkUrl: Check<string> = str((s) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return bad(`"${s}" is not a URL: use http://, https:// or file://`);
  }
  if (!["http:", "https:", "file:"].includes(u.protocol)) {
    return bad(`"${s}" uses ${u.protocol.slice(0, -1)}: only http://, https:// and file:// are supported`);
  }
  return ok(s);
});

export const checkBridge: Check<string> = str((s) => {
  if (s.length < 1 || s.length > 15) {
    return bad(`"${s}" is ${s.length} characters: an interface name has 1 to 15`);
  }
  if (/[/:\s]/.test(s) || s === "." || s === "..") {
    return bad(`"${s}" is not a valid interface name: no "/", ":" or whitespace`);
  }
  return ok(s);
});

/** Parse dotted-quad IPv4 to a 32-bit unsigned number, or null. */
export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  let n = 0;
  for (const part of m.slice(1)) {
    const o = Number(part);
    if (o > 255 || (part.length > 1 && part.startsWith("0"))) return null;
    n = n * 256 + o;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export const checkSubnet: Check<string> = str((s) => {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  const ip = m?.[1] === undefined ? null : parseIpv4(m[1]);
  if (m === null || ip === null) return bad(`"${s}" is not an IPv4 CIDR like "172.30.0.0/24"`);
  const prefix = Number(m[2]);
  if (prefix < 16 || prefix > 29) return bad(`prefix /${prefix} is out of range: use /16 to /29`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (ip & mask) >>> 0;
  if (net !== ip) {
    return bad(
      `"${s}" is not a network address, its host bits are set (did you mean "${formatIpv4(net)}/${prefix}"?)`,
    );
  }
  return ok(s);
});

export const checkListen: Check<string> = str((s) => {
  const m = /^([^:]+):(\d{1,5})$/.exec(s);
  if (m === null || m[1] === undefined || parseIpv4(m[1]) === null) {
    return bad(`"${s}" is not an IPv4 address and port like "127.0.0.1:42069"`);
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return bad(`port ${port} is out of range: use 1 to 65535`);
  return ok(s);
});

function sizeValue(v: unknown): Parsed<number> {
  if (typeof v === "number" && !Number.isInteger(v)) {
    return expected('an integer number of MiB or a size string like "2G"', v);
  }
  if (typeof v !== "string" && typeof v !== "number") {
    return expected('a size string like "2G" or an integer number of MiB', v);
  }
  return tryParseSize(v);
}

/** Memory: bytes parsed, stored as MiB. */
export const checkMemory: Check<number> = (v) => {
  const r = sizeValue(v);
  if (!r.ok) return r;
  if (r.value % MiB !== 0) return bad(`${formatSize(r.value)} is not a whole number of MiB`);
  const mib = r.value / MiB;
  if (mib < MEMORY_MIN_MIB) return bad(`${formatSize(r.value)} is below the minimum of ${MEMORY_MIN_MIB}M`);
  if (mib > MEMORY_MAX_MIB) return bad(`${formatSize(r.value)} is above the maximum of 1T`);
  return ok(mib);
};

export const checkDiskSize: Check<number> = (v) => {
  const r = sizeValue(v);
  if (!r.ok) return r;
  if (r.value < DISK_MIN_BYTES) {
    return bad(`${formatSize(r.value)} is below the minimum of ${formatSize(DISK_MIN_BYTES)}`);
  }
  return r;
};

/** Bounds of [logs] max_size: a rotation per 64 KiB at the least, at most 1 GiB a file. */
export const LOG_SIZE_MIN_BYTES = 64 * 1024;
export const LOG_SIZE_MAX_BYTES = 1024 * MiB;

export const checkLogSize: Check<number> = (v) => {
  const r = sizeValue(v);
  if (!r.ok) return r;
  if (r.value < LOG_SIZE_MIN_BYTES) return bad(`${formatSize(r.value)} is below the minimum of 64K`);
  if (r.value > LOG_SIZE_MAX_BYTES) return bad(`${formatSize(r.value)} is above the maximum of 1G`);
  if (!Number.isInteger(r.value)) return bad(`${r.value} is not a whole number of bytes`);
  return r;
};

/** The shape rules host and guest paths share. */
function syncPathShape(s: string): Parsed<string> {
  if (s === "") return bad("must not be empty");
  if (s.includes("\0")) return bad("must not contain a NUL byte");
  if (/^~[^/]/.test(s)) return bad(`"${s}": ~user paths are not supported, use ~/ or an absolute path`);
  if (!s.startsWith("/") && !s.startsWith("~")) {
    return bad(`"${s}" is relative: use an absolute path or ~/...`);
  }
  if (s.split("/").includes("..")) return bad(`"${s}" contains a ".." segment`);
  return ok(s);
}

export function checkHostPath(env: Env): Check<string> {
  return str((s) => {
    const shape = syncPathShape(s);
    if (!shape.ok) return shape;
    const e = expand(s, env);
    return e.ok ? ok(path.normalize(e.value)) : e;
  });
}

export const checkGuestPath: Check<string> = str((s) => {
  const shape = syncPathShape(s);
  if (!shape.ok) return shape;
  const abs = s === "~" || s.startsWith("~/") ? `/root${s.slice(1)}` : s;
  const norm = path.posix.normalize(abs).replace(/\/+$/, "");
  if (norm === "/root") {
    return bad(`"${s}" is the whole work disk: name a path under it, like "~/.gitconfig"`);
  }
  if (!norm.startsWith("/root/")) {
    return bad(`"${s}" is outside /root: guest paths must start with ~/ or /root/`);
  }
  return ok(norm);
});

const MODE_RE = /^0?[0-7]{3}$/;

export const checkFileMode: Check<number | null> = (v) => {
  if (typeof v === "string" && MODE_RE.test(v)) return ok(Number.parseInt(v, 8));
  if (typeof v === "string") return bad(`"${v}" is not an octal file mode like "0644" or "755"`);
  const quote =
    typeof v === "number" ? ` (write it as a string: mode = "${String(v).padStart(4, "0")}")` : "";
  return bad(`expected an octal string like "0644", got ${describeValue(v)}${quote}`);
};

/** Lowest uid a jailer range may start at: above the uids of people and system services. */
export const JAILER_UID_MIN = 65536;

/** `"FIRST-LAST"`: a range of uids for jailed VMMs, at least 16 wide, above normal users. */
export const checkUidRange: Check<{ first: number; last: number }> = (v) => {
  if (typeof v !== "string") return expected('a string "FIRST-LAST", for example "900000-965535"', v);
  const m = /^(\d+)-(\d+)$/.exec(v.trim());
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m) return bad(`expected "FIRST-LAST" (two uids joined by "-"), got ${describeValue(v)}`);
  if (first < JAILER_UID_MIN)
    return bad(
      `the range must start at ${JAILER_UID_MIN} or above (uids of users and services live below), got ${first}`,
    );
  if (last > 4294967294) return bad(`uids end at 4294967294, got ${last}`);
  if (last - first + 1 < 16)
    return bad(`the range ${first}-${last} must hold at least 16 uids (one per running VM)`);
  return ok({ first, last });
};

/** `[network] egress`: the text is parsed where it is used (services/network/firewall/egress.ts). */
export const checkEgress: Check<string | null> = str((s) => {
  if (s === "none" || s === "public" || /^allow=[^,\s]+(,[^,\s]+)*$/.test(s)) return ok(s);
  return bad(`"${s}" is not an egress policy: use "none", "public" or "allow=DOMAIN[,DOMAIN...]"`);
}) as Check<string | null>;

/** `[network] upstream_dns`: a list of "IP" or "IP:port". */
export const checkUpstreamDns: Check<string[]> = (v) => {
  if (!Array.isArray(v)) return expected('a list like ["1.1.1.1", "9.9.9.9:53"]', v);
  for (const x of v) {
    const m = typeof x === "string" ? /^([0-9.]+)(?::(\d{1,5}))?$/.exec(x) : null;
    if (
      m === null ||
      parseIpv4(m[1] as string) === null ||
      Number(m[2] ?? 53) < 1 ||
      Number(m[2] ?? 53) > 65535
    ) {
      return bad(
        `${describeValue(x)} is not an IPv4 address with an optional port, like "1.1.1.1" or "9.9.9.9:53"`,
      );
    }
  }
  return ok(v as string[]);
};
