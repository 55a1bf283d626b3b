import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ApiDescription, FIRECRACKER_API, OMITTED_FIELDS } from "../../src/vmm/firecracker/apiSpec.js";
import { haveSpec, specPath } from "./bin.js";
import { compareSpec } from "./compareSpec.js";
import { loadSpec } from "./spec.js";

type Def = { required?: string[]; properties: Record<string, Record<string, unknown>> };
/** A deep, mutable copy to break on purpose. */
const copy = (): ApiDescription & { info: { version: string }; definitions: Record<string, Def> } =>
  JSON.parse(JSON.stringify(FIRECRACKER_API));

describe("compareSpec finds every kind of difference", () => {
  test("identical descriptions agree", () => {
    assert.deepEqual(compareSpec(FIRECRACKER_API, copy(), {}), []);
  });

  test("type, enum, bounds, required, missing fields and routes", () => {
    const official = copy();
    const defs = official.definitions;
    (defs.Drive as Def).properties.cache_type = { type: "string", enum: ["Unsafe"] };
    (defs.Vsock as Def).properties.guest_cid = { type: "integer", minimum: 2 };
    (defs.MachineConfiguration as Def).properties.mem_size_mib = { type: "string" };
    (defs.Metrics as Def).required = [];
    (defs.Logger as Def).properties.colour = { type: "boolean" };
    official.paths = Object.fromEntries(Object.entries(official.paths).filter(([p]) => p !== "/vsock"));
    official.info.version = "1.17.0";
    assert.deepEqual(compareSpec(FIRECRACKER_API, official, {}), [
      "info.version: ours 1.16.1, official 1.17.0",
      "PUT /vsock: not in the official spec",
      "definitions.Logger.colour: in the official spec but neither described nor listed in OMITTED_FIELDS",
      'definitions.Metrics.required: ours ["metrics_path"], official []',
      'definitions.MachineConfiguration.mem_size_mib.type: ours "integer", official "string"',
      'definitions.Drive.cache_type.enum: ours ["Unsafe","Writeback"], official ["Unsafe"]',
      "definitions.Vsock.guest_cid.minimum: ours 3, official 2",
    ]);
  });

  test("OMITTED_FIELDS must name real fields", () => {
    assert.deepEqual(compareSpec(FIRECRACKER_API, copy(), { Drive: { nope: "x" } }), [
      "definitions.Drive.nope: listed in OMITTED_FIELDS but not in the official spec",
    ]);
  });
});

const SKIP = haveSpec()
  ? false
  : `the official spec is not at ${specPath()} (a fresh clone has no ../shared)`;

describe("Firecracker API description agrees with the official spec", { skip: SKIP }, () => {
  test("every route, parameter, definition and field of apiSpec.ts matches firecracker-api.yaml", () => {
    assert.deepEqual(compareSpec(FIRECRACKER_API, loadSpec(specPath()), OMITTED_FIELDS), []);
  });
});
