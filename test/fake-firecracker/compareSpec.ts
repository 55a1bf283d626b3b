/**
 * Compare banger's description of the Firecracker API (apiSpec.ts) with the
 * official swagger file: every route, parameter, definition and field banger
 * describes must say exactly what the official one says, and every official
 * field banger leaves out must be listed in OMITTED_FIELDS.
 */
import type { ApiDescription, ApiSchema } from "../../src/vmm/firecracker/apiSpec.js";

const sorted = (xs: readonly unknown[] | undefined): string =>
  JSON.stringify([...(xs ?? [])].map(String).sort());

function schemaDiff(where: string, ours: ApiSchema, theirs: ApiSchema | undefined): string[] {
  if (!theirs) return [`${where}: not in the official spec`];
  const out: string[] = [];
  for (const key of ["$ref", "type", "minimum", "maximum"] as const) {
    if (ours[key] !== theirs[key])
      out.push(`${where}.${key}: ours ${JSON.stringify(ours[key])}, official ${JSON.stringify(theirs[key])}`);
  }
  if (sorted(ours.enum) !== sorted(theirs.enum))
    out.push(`${where}.enum: ours ${sorted(ours.enum)}, official ${sorted(theirs.enum)}`);
  if (ours.items || theirs.items) out.push(...schemaDiff(`${where}.items`, ours.items ?? {}, theirs.items));
  return out;
}

function definitionDiff(
  name: string,
  ours: ApiSchema,
  theirs: ApiSchema | undefined,
  omitted: Readonly<Record<string, string>>,
): string[] {
  const where = `definitions.${name}`;
  if (!theirs) return [`${where}: not in the official spec`];
  const out: string[] = [];
  if (ours.type !== theirs.type) out.push(`${where}.type: ours ${ours.type}, official ${theirs.type}`);
  if (sorted(ours.required) !== sorted(theirs.required))
    out.push(`${where}.required: ours ${sorted(ours.required)}, official ${sorted(theirs.required)}`);
  const mine = ours.properties ?? {};
  const official = theirs.properties ?? {};
  for (const [field, s] of Object.entries(mine)) {
    out.push(...schemaDiff(`${where}.${field}`, s, official[field]));
    if (omitted[field]) out.push(`${where}.${field}: described, but also listed in OMITTED_FIELDS`);
  }
  for (const field of Object.keys(official)) {
    if (!(field in mine) && !omitted[field])
      out.push(`${where}.${field}: in the official spec but neither described nor listed in OMITTED_FIELDS`);
  }
  for (const field of Object.keys(omitted)) {
    if (!(field in official))
      out.push(`${where}.${field}: listed in OMITTED_FIELDS but not in the official spec`);
  }
  return out;
}

function pathsDiff(ours: ApiDescription, theirs: ApiDescription): string[] {
  const out: string[] = [];
  for (const [p, ops] of Object.entries(ours.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const where = `${method.toUpperCase()} ${p}`;
      const official = theirs.paths[p]?.[method];
      if (!official) {
        out.push(`${where}: not in the official spec`);
        continue;
      }
      const params = (o: typeof op) =>
        JSON.stringify(
          (o.parameters ?? []).map((x) => [x.name, x.in, x.required ?? false, x.type, x.schema?.$ref]),
        );
      if (params(op) !== params(official))
        out.push(`${where}: parameters ours ${params(op)}, official ${params(official)}`);
    }
  }
  return out;
}

/** Every difference, one line each; empty when the description agrees. */
export function compareSpec(
  ours: ApiDescription,
  theirs: ApiDescription,
  omitted: Readonly<Record<string, Readonly<Record<string, string>>>>,
): string[] {
  const out: string[] = [];
  if (ours.info.version !== theirs.info.version)
    out.push(`info.version: ours ${ours.info.version}, official ${theirs.info.version}`);
  out.push(...pathsDiff(ours, theirs));
  for (const [name, def] of Object.entries(ours.definitions))
    out.push(...definitionDiff(name, def, theirs.definitions[name], omitted[name] ?? {}));
  for (const name of Object.keys(omitted)) {
    if (!(name in ours.definitions)) out.push(`OMITTED_FIELDS.${name}: banger does not describe ${name}`);
  }
  for (const r of JSON.stringify(ours).match(/#\/definitions\/[A-Za-z]+/g) ?? []) {
    const name = r.slice("#/definitions/".length);
    if (!(name in ours.definitions)) out.push(`${r}: referenced but not described`);
  }
  return [...new Set(out)];
}
