import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PingResult } from "../api/methods.js";
import { olderCliError, relationTo } from "./daemonControl.js";

const mine = { version: "0.2.0", buildId: "aaaa", builtAt: "2026-06-01T00:00:00.000Z" };

function ping(over: Partial<PingResult>): PingResult {
  return {
    version: "0.2.0",
    buildId: "bbbb",
    protocol: 1,
    apiVersion: 1,
    methods: [],
    pid: 42,
    uptimeSec: 1,
    startedAt: "",
    socket: "/s",
    logPath: "/l",
    paths: { configDir: "", stateDir: "", cacheDir: "", runtimeDir: "", socket: "", dbFile: "", logsDir: "" },
    ...over,
  };
}

describe("how a running daemon stands to this CLI", () => {
  it("same build id is the same build, whatever the rest says", () => {
    assert.equal(relationTo(ping({ buildId: "aaaa", version: "9.9.9" }), mine), "same");
  });

  it("orders by version, then build time; a daemon without builtAt is older than a timed build", () => {
    assert.equal(relationTo(ping({ version: "0.1.9", builtAt: "2027-01-01T00:00:00Z" }), mine), "older");
    assert.equal(relationTo(ping({ version: "0.10.0", builtAt: "2020-01-01T00:00:00Z" }), mine), "newer");
    assert.equal(relationTo(ping({ builtAt: "2026-05-31T00:00:00Z" }), mine), "older");
    assert.equal(relationTo(ping({ builtAt: "2026-06-02T00:00:00Z" }), mine), "newer");
    assert.equal(relationTo(ping({}), mine), "older", "a daemon from before builtAt existed");
  });

  it("two builds of one version and time cannot be ordered: neither replaces the other", () => {
    assert.equal(relationTo(ping({ builtAt: mine.builtAt }), mine), "unordered");
  });

  it("the older-CLI error names both builds, the pid, the newer banger's path and what to do", () => {
    const e = olderCliError(
      ping({ version: "0.3.0", builtAt: "2026-07-01T10:00:00Z", protocol: 2, bin: "/opt/b/bin/banger" }),
      mine,
    );
    assert.equal(e.code, "DAEMON_UNAVAILABLE");
    assert.match(
      e.message,
      /this banger \(0\.2\.0, built 2026-06-01 00:00:00 UTC\) is older than the running daemon \(0\.3\.0, built 2026-07-01 10:00:00 UTC, pid 42\)/,
    );
    assert.match(
      e.hint ?? "",
      /use the newer banger at \/opt\/b\/bin\/banger, or run `banger daemon restart` with this one/,
    );
  });
});
