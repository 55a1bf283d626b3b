/** Input validation at the RPC layer: every handler's params go through its method's schema first. */
import type { z } from "zod";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Handler } from "../../rpc/server.js";
import type { MethodName, ParsedParamsOf, ResultOf } from "../methods.js";
import { methodSchemas } from "./methods.js";

/** One issue as `field.path: problem`; unknown fields list the accepted ones. */
function describeIssue(issue: z.core.$ZodIssue, shape: z.ZodType): string {
  const at = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const known = acceptedKeys(shape, issue.path);
    const where = at === "" ? "" : `${at}.`;
    return issue.keys
      .map((k) => `${where}${k}: unknown field${known ? ` (accepted: ${known.join(", ")})` : ""}`)
      .join("; ");
  }
  return `${at === "" ? "params" : at}: ${issue.message}`;
}

function acceptedKeys(shape: z.ZodType, path: PropertyKey[]): string[] | null {
  let s: unknown = shape;
  for (const p of path) s = (s as { shape?: Record<PropertyKey, unknown> }).shape?.[p];
  const inner = s as { shape?: Record<string, unknown>; unwrap?: () => unknown } | undefined;
  const obj = inner?.shape ?? (inner?.unwrap?.() as { shape?: Record<string, unknown> })?.shape;
  return obj ? Object.keys(obj) : null;
}

/** Parse `raw` as `method`'s params, or throw INVALID_ARGUMENT naming every bad field. */
export function parseParams<M extends MethodName>(method: M, raw: unknown): ParsedParamsOf<M> {
  const schema: z.ZodType = methodSchemas[method].params;
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data as ParsedParamsOf<M>;
  const problems = r.error.issues.map((i) => describeIssue(i, schema));
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, problems.join("; "), { details: { method, problems } });
}

export function hasSchema(method: string): method is MethodName {
  return Object.hasOwn(methodSchemas, method);
}

/**
 * Wrap every handler so it only ever sees params its schema accepted. A
 * handler for a method without a schema is a programming error: refuse to start.
 */
export function withValidation(handlers: ReadonlyMap<string, Handler>): Map<string, Handler> {
  const out = new Map<string, Handler>();
  for (const [method, h] of handlers) {
    if (!hasSchema(method)) {
      throw new BangerError(
        ErrorCodes.INTERNAL,
        `RPC method "${method}" has a handler but no schema; add it to src/api/schema/methods.ts`,
      );
    }
    out.set(method, (raw, ctx) => h(parseParams(method, raw), ctx));
  }
  return out;
}

/** A handler whose params are the parsed, typed ones and whose result is checked against the table. */
export type TypedHandler<M extends MethodName> = (
  params: ParsedParamsOf<M>,
  ctx: Parameters<Handler>[1],
) => ResultOf<M> | Promise<ResultOf<M>>;

/** Register a typed handler (validation happens in withValidation, before it runs). */
export function on<M extends MethodName>(h: Map<string, Handler>, method: M, fn: TypedHandler<M>): void {
  h.set(method, fn as Handler);
}
