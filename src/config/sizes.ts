import { BangerError, ErrorCodes } from "../errors/index.js";

/** The outcome of parsing a user-given value: the value, or a message saying what is wrong. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

const UNIT_BYTES: Readonly<Record<string, number>> = { "": MiB, b: 1, k: KiB, m: MiB, g: GiB, t: TiB };

/** A number, then an optional binary unit K/M/G/T with an optional i, iB or B; or a bare B for bytes. */
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:ib|i|b)?|(b))?$/i;

const SIZE_HELP = "use a number with a unit like 512M, 2G or 2GiB (a bare number means MiB)";

function sizeFromNumber(n: number, shown: string): Parsed<number> {
  if (!Number.isFinite(n) || n < 0) return { ok: false, message: `${shown} is not a size: ${SIZE_HELP}` };
  return checkBytes(n * MiB, shown);
}

function checkBytes(bytes: number, shown: string): Parsed<number> {
  if (!Number.isSafeInteger(bytes)) {
    const why = Number.isInteger(bytes) ? "is too large" : "is not a whole number of bytes";
    return { ok: false, message: `${shown} ${why}` };
  }
  return { ok: true, value: bytes };
}

/**
 * Parse a size: "512M", "512MiB", "2G", "2GB", "1.5g", "4096K", "100B" (units are
 * binary and case-insensitive). A bare number, or a number value, means MiB.
 */
export function tryParseSize(input: string | number): Parsed<number> {
  if (typeof input === "number") return sizeFromNumber(input, String(input));
  const s = input.trim();
  const m = SIZE_RE.exec(s);
  if (m === null) return { ok: false, message: `"${input}" is not a size: ${SIZE_HELP}` };
  const unit = (m[2] ?? m[3] ?? "").toLowerCase();
  const bytes = Number(m[1]) * (UNIT_BYTES[unit] ?? MiB);
  return checkBytes(bytes, `"${input}"`);
}

/** Like tryParseSize, but throws INVALID_ARGUMENT naming `field` (a config key or a flag like --memory). */
export function parseSize(input: string | number, field: string): number {
  const r = tryParseSize(input);
  if (r.ok) return r.value;
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: ${r.message}`, {
    hint: `${field}: ${SIZE_HELP}`,
  });
}

const SIZE_UNITS: ReadonlyArray<readonly [string, number]> = [
  ["T", TiB],
  ["G", GiB],
  ["M", MiB],
  ["K", KiB],
];

/** Format bytes for people, in the largest unit that is exact to two decimals: "512M", "2G", "1.5G". */
export function formatSize(bytes: number): string {
  if (bytes < 0) return `-${formatSize(-bytes)}`;
  for (const [unit, n] of SIZE_UNITS) {
    if (bytes < n) continue;
    const v = Math.round((bytes / n) * 100) / 100;
    if (v * n === bytes) return `${v}${unit}`;
  }
  return `${bytes}B`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const DURATION_HELP = 'use a duration like "500ms", "5s", "1m" or "1m30s" (a bare number means seconds)';

function durationFromSeconds(n: number, shown: string): Parsed<number> {
  if (!Number.isFinite(n) || n < 0)
    return { ok: false, message: `${shown} is not a duration: ${DURATION_HELP}` };
  return { ok: true, value: Math.round(n * 1000) };
}

/** Parse a duration to milliseconds: "500ms", "5s", "1.5s", "1m30s", "1h". A bare number means seconds. */
export function tryParseDuration(input: string | number): Parsed<number> {
  if (typeof input === "number") return durationFromSeconds(input, String(input));
  const s = input.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return durationFromSeconds(Number(s), `"${input}"`);
  if (!DURATION_RE.test(s)) return { ok: false, message: `"${input}" is not a duration: ${DURATION_HELP}` };
  let ms = 0;
  for (const m of s.matchAll(DURATION_PART_RE)) ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? "ms"] ?? 1);
  if (!Number.isSafeInteger(Math.round(ms))) return { ok: false, message: `"${input}" is too long` };
  return { ok: true, value: Math.round(ms) };
}

/** Like tryParseDuration, but throws INVALID_ARGUMENT naming `field`. */
export function parseDuration(input: string | number, field: string): number {
  const r = tryParseDuration(input);
  if (r.ok) return r.value;
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field}: ${r.message}`, {
    hint: `${field}: ${DURATION_HELP}`,
  });
}

/** Format milliseconds for people: "500ms", "5s", "1.5s", "1m30s", "1h". */
export function formatDuration(ms: number): string {
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
}
