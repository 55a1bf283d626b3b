/**
 * Validate a JSON value against a swagger 2.0 schema of the Firecracker API
 * (banger's description in apiSpec.ts, or the official YAML loaded by tests):
 * $ref (within the file), type (integer is not number), required, enum,
 * minimum/maximum, items, and unknown fields. Firecracker deserialises every
 * body with serde's deny_unknown_fields, so an object rejects keys it does not
 * declare unless the schema says `additionalProperties: true`.
 */
import type { ApiDescription, ApiOperation, ApiParameter, ApiSchema } from "./apiSpec.js";

type ApiSpec = ApiDescription;
type Schema = ApiSchema;

export function resolveRef(spec: ApiSpec, schema: Schema): Schema {
  let s = schema;
  for (let depth = 0; s.$ref !== undefined; depth++) {
    const m = /^#\/definitions\/(.+)$/.exec(s.$ref);
    const target = m ? spec.definitions[m[1] ?? ""] : undefined;
    if (!target || depth > 32) throw new Error(`cannot resolve $ref ${s.$ref}`);
    s = target; // swagger 2.0: siblings of $ref (description, ...) are ignored
  }
  return s;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function hasType(type: string, v: unknown): boolean {
  switch (type) {
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "object":
      return typeName(v) === "object";
    case "array":
      return Array.isArray(v);
    default:
      return typeof v === type;
  }
}

/** Every problem with `value`, each prefixed by its location (for example `body.vcpu_count`). */
export function validate(spec: ApiSpec, schema: Schema, value: unknown, where = "body"): string[] {
  const s = resolveRef(spec, schema);
  const type = s.type ?? (s.properties ? "object" : undefined);
  if (type && !hasType(type, value)) {
    return [`${where}: expected ${type}, got ${typeName(value)} ${JSON.stringify(value)}`];
  }
  if (s.enum && !s.enum.includes(value)) {
    return [
      `${where}: ${JSON.stringify(value)} is not one of ${s.enum.map((e) => JSON.stringify(e)).join(", ")}`,
    ];
  }
  const errors: string[] = [];
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum)
      errors.push(`${where}: ${value} is below the minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum)
      errors.push(`${where}: ${value} is above the maximum ${s.maximum}`);
  }
  if (Array.isArray(value) && s.items) {
    const items = s.items;
    value.forEach((v, i) => {
      errors.push(...validate(spec, items, v, `${where}[${i}]`));
    });
  }
  if (type === "object") errors.push(...validateObject(spec, s, value as Record<string, unknown>, where));
  return errors;
}

function validateObject(spec: ApiSpec, s: Schema, obj: Record<string, unknown>, where: string): string[] {
  const errors: string[] = [];
  const props = s.properties ?? {};
  for (const name of s.required ?? []) {
    if (!(name in obj)) errors.push(`${where}: missing required field "${name}"`);
  }
  for (const [key, v] of Object.entries(obj)) {
    const prop = props[key];
    if (prop) {
      errors.push(...validate(spec, prop, v, `${where}.${key}`));
    } else if (typeof s.additionalProperties === "object") {
      errors.push(...validate(spec, s.additionalProperties, v, `${where}.${key}`));
    } else if (s.additionalProperties !== true) {
      const known = Object.keys(props).join(", ") || "none";
      errors.push(`${where}: unknown field "${key}" (Firecracker rejects unknown fields; known: ${known})`);
    }
  }
  return errors;
}

export interface RouteMatch {
  /** The spec's path template, for example /drives/{drive_id}. */
  template: string;
  params: Record<string, string>;
  /** Undefined when the path exists but not with this method. */
  operation: ApiOperation | undefined;
}

/** Find the spec path matching `urlPath` (query string ignored), or null. */
export function matchRoute(spec: ApiSpec, method: string, urlPath: string): RouteMatch | null {
  const pathOnly = urlPath.split("?")[0] ?? "";
  for (const [template, ops] of Object.entries(spec.paths)) {
    const names: string[] = [];
    const re = new RegExp(
      `^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_m, n: string) => {
        names.push(n);
        return "([^/]+)";
      })}$`,
    );
    const m = re.exec(pathOnly);
    if (!m) continue;
    const params: Record<string, string> = {};
    names.forEach((n, i) => {
      params[n] = decodeURIComponent(m[i + 1] ?? "");
    });
    return { template, params, operation: ops[method.toLowerCase()] };
  }
  return null;
}

/** The body parameter of an operation, if it takes one. */
export function bodyParameter(op: ApiOperation): ApiParameter | undefined {
  return op.parameters?.find((p) => p.in === "body");
}
