import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileCacheDir, runtimeProblem } from "./runtime.js";

const facts = { version: "v24.22.3", lts: "Krypton", execPath: "/x/node", chosen: false };

describe("runtime check", () => {
  it("accepts an LTS release of Node 24 or newer", () => {
    assert.equal(runtimeProblem(facts), undefined);
    assert.equal(runtimeProblem({ ...facts, version: "v26.1.0", lts: "Lepus" }), undefined);
  });

  it("refuses older Node, naming the binary, its version and the fix", () => {
    for (const version of ["v18.19.0", "v20.20.2", "v22.9.0"]) {
      const p = runtimeProblem({ ...facts, version, lts: "Hydrogen" });
      assert.ok(p?.includes(version) && p.includes("/x/node") && p.includes("too old"), p);
      assert.match(p ?? "", /scripts\/install/);
    }
  });

  it("refuses a current release that is not an LTS, unless BANGER_NODE chose it", () => {
    const current = { ...facts, version: "v25.2.0", lts: undefined };
    assert.match(runtimeProblem(current) ?? "", /not an LTS release/);
    assert.equal(runtimeProblem({ ...current, chosen: true }), undefined);
    assert.match(runtimeProblem({ ...current, version: "v20.1.0", chosen: true }) ?? "", /too old/);
  });

  it("keeps the compile cache under XDG_CACHE_HOME, else ~/.cache", () => {
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: "/c", HOME: "/h" }), "/c/banger/compile-cache");
    assert.equal(compileCacheDir({ HOME: "/h" }), "/h/.cache/banger/compile-cache");
  });
});
