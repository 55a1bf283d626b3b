/**
 * The official Firecracker swagger file, loaded at run time when it is there
 * (../shared/firecracker/firecracker-api.yaml): only the comparison with
 * banger's own description (src/vmm/firecracker/apiSpec.ts) reads it. The
 * fake validates against banger's description, so it runs on any clone.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import type { ApiDescription } from "../../src/vmm/firecracker/apiSpec.js";

export type { ApiDescription as ApiSpec, ApiSchema as Schema } from "../../src/vmm/firecracker/apiSpec.js";
export { bodyParameter, matchRoute, type RouteMatch } from "../../src/vmm/firecracker/apiValidate.js";

export function loadSpec(file: string): ApiDescription {
  const spec = parse(readFileSync(file, "utf8")) as ApiDescription;
  if (!spec?.paths || !spec.definitions) throw new Error(`${file} does not look like a swagger 2.0 spec`);
  return spec;
}
