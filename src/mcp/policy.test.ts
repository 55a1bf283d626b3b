import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { globToRegExp, Policy } from "./policy.js";

const code = (c: string, re: RegExp) => (e: unknown) =>
  isBangerError(e) && e.code === c && re.test(e.message);

describe("MCP policy", () => {
  it("globs: * and ? only; everything else is literal", () => {
    assert.ok(globToRegExp("agent-*").test("agent-1"));
    assert.ok(!globToRegExp("agent-*").test("xagent-1"));
    assert.ok(globToRegExp("a?c").test("abc"));
    assert.ok(!globToRegExp("a.c").test("abc"), "a dot is a dot");
    assert.ok(!globToRegExp("a+").test("aa"));
  });

  it("--vm-pattern hides other VMs and requires matching names for new ones", () => {
    const p = new Policy({ vmPattern: "agent-*", readOnly: false, defaultEgress: "none" });
    assert.equal(p.allows("dev"), false);
    assert.throws(() => p.check("dev"), code("NOT_FOUND", /--vm-pattern agent-\*/));
    assert.doesNotThrow(() => p.check("agent-7"));
    assert.throws(() => p.createName(undefined), code("INVALID_ARGUMENT", /^name: required/));
    assert.throws(() => p.createName("dev"), code("INVALID_ARGUMENT", /^name: "dev" does not match/));
    assert.equal(p.createName("agent-2"), "agent-2");
    assert.equal(p.forkNames("agent-x", 3), "agent-x", "agent-x-1 ... agent-x-3 match agent-*");
    assert.throws(() => p.forkNames(undefined, 2), code("INVALID_ARGUMENT", /^name: required/));
    assert.equal(
      new Policy({ vmPattern: null, readOnly: false, defaultEgress: "none" }).createName(undefined),
      undefined,
    );
  });

  it("egress may be equal or stricter than the default, never looser (none < allow < public)", () => {
    const allow = new Policy({ vmPattern: null, readOnly: false, defaultEgress: "allow" });
    assert.equal(allow.egress(undefined), undefined);
    assert.equal(allow.egress("none"), "none");
    assert.equal(allow.egress("allow"), "allow");
    assert.throws(
      () => allow.egress("public"),
      code("INVALID_ARGUMENT", /^egress: "public" is looser than the default "allow"/),
    );
    const none = new Policy({ vmPattern: null, readOnly: false, defaultEgress: "none" });
    assert.throws(() => none.egress("allow"), code("INVALID_ARGUMENT", /looser/));
    assert.equal(
      new Policy({ vmPattern: null, readOnly: false, defaultEgress: "public" }).egress("public"),
      "public",
    );
  });
});
