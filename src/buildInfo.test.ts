import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareBuilds, compareVersions, describeBuild, parseSemver } from "./buildInfo.js";

describe("build ordering", () => {
  it("orders versions by semver precedence, not as strings", () => {
    const ordered = [
      "0.9.0",
      "0.10.0-alpha",
      "0.10.0-alpha.1",
      "0.10.0-alpha.beta",
      "0.10.0-beta.2",
      "0.10.0-beta.11",
      "0.10.0-rc.1",
      "0.10.0",
      "0.10.1",
      "1.0.0",
      "10.0.0",
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const want = Math.sign(i - j);
        assert.equal(compareVersions(ordered[i]!, ordered[j]!), want, `${ordered[i]} vs ${ordered[j]}`);
      }
    }
    assert.equal(compareVersions("1.2.3+build.7", "1.2.3"), 0, "build metadata has no order");
  });

  it("ranks an unparsable version below every real one", () => {
    assert.equal(parseSemver("0.0.0-dev")?.pre[0], "dev");
    assert.equal(parseSemver("garbage"), null);
    assert.equal(compareVersions("garbage", "0.0.1"), -1);
    assert.equal(compareVersions("0.0.1", "garbage"), 1);
  });

  it("orders builds of one version by build time; a missing time is oldest; the same time cannot be ordered", () => {
    const a = { version: "0.1.0", builtAt: "2026-01-01T00:00:00.000Z" };
    const b = { version: "0.1.0", builtAt: "2026-01-02T00:00:00.000Z" };
    assert.equal(compareBuilds(a, b), -1);
    assert.equal(compareBuilds(b, a), 1);
    assert.equal(compareBuilds({ version: "0.1.0", builtAt: "" }, a), -1);
    assert.equal(compareBuilds(a, { ...a }), 0);
    // the version wins over the time
    assert.equal(compareBuilds({ version: "0.2.0", builtAt: "2020-01-01T00:00:00Z" }, b), 1);
  });

  it("describes a build for messages", () => {
    assert.equal(
      describeBuild({ version: "0.1.0", builtAt: "2026-12-05T11:02:33.123Z" }),
      "0.1.0, built 2026-12-05 11:02:33 UTC",
    );
    assert.equal(describeBuild({ version: "0.1.0", builtAt: "" }), "0.1.0, build time unknown");
  });
});
