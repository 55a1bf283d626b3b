import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isBangerError } from "../../errors/index.js";
import type { Handler } from "../../rpc/server.js";
import { API_VERSION as SDK_API_VERSION } from "../../sdk/apiVersion.js";
import { API_VERSION } from "./daemon.js";
import { methodSchemas } from "./methods.js";
import { parseParams, withValidation } from "./validate.js";

/** The INVALID_ARGUMENT message parseParams throws for these params. */
function problem(method: Parameters<typeof parseParams>[0], raw: unknown): string {
  try {
    parseParams(method, raw);
  } catch (e) {
    assert.ok(isBangerError(e), String(e));
    assert.equal(e.code, "INVALID_ARGUMENT");
    return e.message;
  }
  assert.fail(`${method} accepted ${JSON.stringify(raw)}`);
}

describe("RPC params schema", () => {
  it("names the field and the problem: wrong type, out of range, missing", () => {
    assert.match(
      problem("vm.create", { vcpu: "2" }),
      /^vcpu: Invalid input: expected number, received string$/,
    );
    assert.match(problem("vm.create", { vcpu: 0 }), /^vcpu: must be an integer from 1 to 64$/);
    assert.match(problem("vm.create", { memoryMib: 1.5 }), /memoryMib: must be an integer/);
    assert.match(problem("vm.show", {}), /^name: Invalid input: expected string, received undefined$/);
    assert.match(problem("vm.show", { name: "" }), /^name: must be a non-empty string$/);
    assert.match(
      problem("vm.logs", { name: "a", source: "disk" }),
      /source: Invalid option: expected one of "console"\|"vmm"/,
    );
    assert.match(problem("image.export", { name: "a", output: "rel/x" }), /output: must be an absolute path/);
  });

  it("names a nested field by its path", () => {
    assert.match(
      problem("vm.exec", { name: "a", argv: ["ls", 3] }),
      /^argv\.1: Invalid input: expected string/,
    );
    assert.match(
      problem("vm.exec", { name: "a", argv: ["ls"], env: { A: 1 } }),
      /env\.A: Invalid input: expected string/,
    );
    assert.match(problem("vm.exec", { name: "a", argv: [] }), /argv: must name a command/);
    assert.match(
      problem("vm.exec", { name: "a", argv: ["cat"], stdin: "not base64!" }),
      /stdin: must be base64/,
    );
  });

  it("refuses an unknown field and lists the accepted ones", () => {
    assert.equal(
      problem("vm.delete", { name: "a", forse: true }),
      "forse: unknown field (accepted: name, force)",
    );
    assert.match(problem("ping", { x: 1 }), /^x: unknown field/);
  });

  it("refuses params that are not an object, reports every bad field at once", () => {
    assert.match(problem("vm.list", [1]), /^params: Invalid input: expected object, received array$/);
    const m = problem("vm.create", { vcpu: -1, start: "yes" });
    assert.match(m, /vcpu: .*; start: /);
  });

  it("accepts good params and missing params of a method without any", () => {
    assert.deepEqual(parseParams("vm.create", { name: "a", vcpu: 2, start: false }), {
      name: "a",
      vcpu: 2,
      start: false,
    });
    assert.deepEqual(parseParams("vm.list", undefined), {});
  });

  it("wraps handlers: a bad call never reaches the handler; a method without a schema refuses to start", async () => {
    let reached = 0;
    const h = new Map<string, Handler>([["vm.show", () => ++reached]]);
    const wrapped = withValidation(h).get("vm.show")!;
    const ctx = { emit: () => undefined, signal: new AbortController().signal, onInput: () => undefined };
    await assert.rejects(async () => wrapped({ name: 7 }, ctx), /name: Invalid input/);
    assert.equal(reached, 0);
    assert.equal(await wrapped({ name: "x" }, ctx), 1);
    assert.throws(
      () => withValidation(new Map([["vm.teleport", () => 1]])),
      /"vm\.teleport" has a handler but no schema/,
    );
  });

  it("every method has strict params, and the SDK speaks the schema's API version", () => {
    for (const [m, s] of Object.entries(methodSchemas)) {
      const r = (s.params as { safeParse(x: unknown): { success: boolean } }).safeParse({ __nope: 1 });
      assert.equal(r.success, false, `${m} accepts an unknown field`);
    }
    assert.equal(SDK_API_VERSION, API_VERSION);
  });

  it("importing the SDK loads neither zod nor the MCP SDK", () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const sdk = path.resolve(here, "../../sdk/index.js");
    const hook = `import { registerHooks } from "node:module";
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (/node_modules\\/(zod|@modelcontextprotocol)\\//.test(r.url)) console.log("LOADED " + r.url); return r; } });`;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(hook)}`,
        "-e",
        `await import(${JSON.stringify(sdk)}); console.log("ok")`,
      ],
      { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "ok", "the SDK pulled in a heavy module");
  });
});
