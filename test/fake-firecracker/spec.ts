/** The Firecracker swagger spec, loaded at run time, and route lookup in it. */
import { readFileSync } from "node:fs";
import { parse } from "yaml";

export interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  items?: Schema;
  additionalProperties?: boolean | Schema;
}

export interface Parameter {
  name: string;
  in: "path" | "body" | "query" | "header";
  required?: boolean;
  schema?: Schema;
  type?: string;
}

export interface Operation {
  operationId?: string;
  parameters?: Parameter[];
}

export interface ApiSpec {
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Schema>;
}

export function loadSpec(file: string): ApiSpec {
  const spec = parse(readFileSync(file, "utf8")) as ApiSpec;
  if (!spec?.paths || !spec.definitions) throw new Error(`${file} does not look like a swagger 2.0 spec`);
  return spec;
}

export interface RouteMatch {
  /** The spec's path template, for example /drives/{drive_id}. */
  template: string;
  params: Record<string, string>;
  /** Undefined when the path exists but not with this method. */
  operation: Operation | undefined;
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
export function bodyParameter(op: Operation): Parameter | undefined {
  return op.parameters?.find((p) => p.in === "body");
}
