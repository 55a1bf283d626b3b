/** Checks of RPC params: the daemon never trusts the shape a client sends. */
import { BangerError, ErrorCodes } from "../errors/index.js";

function bad(field: string, want: string, got: unknown): BangerError {
  return new BangerError(
    ErrorCodes.INVALID_ARGUMENT,
    `${field} must be ${want}, got ${JSON.stringify(got) ?? "undefined"}`,
  );
}

export function asObject(p: unknown): Record<string, unknown> {
  if (p === undefined || p === null) return {};
  if (typeof p !== "object" || Array.isArray(p)) throw bad("params", "an object", p);
  return p as Record<string, unknown>;
}

export function reqString(p: Record<string, unknown>, field: string): string {
  const v = p[field];
  if (typeof v !== "string" || v === "") throw bad(field, "a non-empty string", v);
  return v;
}

export function optString(p: Record<string, unknown>, field: string): string | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") throw bad(field, "a non-empty string", v);
  return v;
}

export function optInt(
  p: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(field, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function optBool(p: Record<string, unknown>, field: string): boolean | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw bad(field, "true or false", v);
  return v;
}

export function optEnum<T extends string>(
  p: Record<string, unknown>,
  field: string,
  values: readonly T[],
): T | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !(values as readonly string[]).includes(v))
    throw bad(field, `one of ${values.join(", ")}`, v);
  return v as T;
}
