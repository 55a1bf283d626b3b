import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { probeReflink, ReflinkProbe } from "./reflink.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bgreflink-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("probeReflink", () => {
  it("clones a temp file in the directory with cp --reflink=always and cleans up", async () => {
    let srcSeen = false;
    const r = new FakeCommandRunner().on(["cp"], (argv) => {
      srcSeen = existsSync(argv[3]!);
      return {};
    });
    assert.equal(await probeReflink(r, dir), true);
    assert.equal(r.calls.length, 1);
    const argv = r.calls[0]!;
    assert.deepEqual(argv.slice(0, 3), ["cp", "--reflink=always", "--"]);
    assert.equal(path.dirname(argv[3]!), dir);
    assert.equal(path.dirname(argv[4]!), dir);
    assert.ok(srcSeen);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("false when cp fails", async () => {
    const r = new FakeCommandRunner().on(["cp"], {
      code: 1,
      stderr: "cp: failed to clone: Operation not supported",
    });
    assert.equal(await probeReflink(r, dir), false);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe("ReflinkProbe", () => {
  it("caches per directory; forget() asks again; a failed probe is not cached", async () => {
    const r = new FakeCommandRunner();
    const p = new ReflinkProbe(r);
    const [a, b] = await Promise.all([p.supports(dir), p.supports(`${dir}/`)]);
    assert.equal(a && b, true);
    assert.equal(r.calls.length, 1);
    p.forget(dir);
    await p.supports(dir);
    assert.equal(r.calls.length, 2);
    await assert.rejects(p.supports(path.join(dir, "missing")), /ENOENT/);
    await assert.rejects(p.supports(path.join(dir, "missing")), /ENOENT/);
    assert.equal(r.calls.length, 2);
  });
});
