import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { buildCached, cacheKey, moduleTexts, pruneSuperseded, readCacheEntry } from "./cache.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-cache-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const opts = (build: (tmp: string) => Promise<void>, name = "image-x-0123") => ({
  root: path.join(dir, "cache"),
  recipe: "x",
  hash: "0123abcd",
  name,
  build: async (tmp: string) => {
    await build(tmp);
    return {
      files: { rootfs: "rootfs.ext4" },
      artifactVersion: "1-20250101",
      stages: [{ stage: "s", ms: 1 }],
    };
  },
});

describe("recipe cache", () => {
  it("builds once, renames into place with manifest.json, then reuses", async () => {
    let builds = 0;
    const build = async (tmp: string) => {
      builds++;
      await writeFile(path.join(tmp, "rootfs.ext4"), "fs");
    };
    const first = await buildCached(opts(build));
    assert.equal(first.cached, false);
    assert.equal(first.files.rootfs, path.join(dir, "cache", "image-x-0123", "rootfs.ext4"));
    assert.equal(first.manifest.artifactVersion, "1-20250101");
    assert.equal(first.manifest.hash, "0123abcd");
    const second = await buildCached(opts(build));
    assert.equal(second.cached, true);
    assert.equal(builds, 1);
    assert.deepEqual(readdirSync(path.join(dir, "cache")), ["image-x-0123"]);
  });

  it("an entry missing a file is rebuilt", async () => {
    const build = async (tmp: string) => writeFile(path.join(tmp, "rootfs.ext4"), "fs");
    const first = await buildCached(opts(build));
    unlinkSync(first.files.rootfs!);
    assert.equal(await readCacheEntry(first.dir), undefined);
    const again = await buildCached(opts(build));
    assert.equal(again.cached, false);
    assert.ok(existsSync(again.files.rootfs!));
  });

  it("a failed build leaves nothing behind", async () => {
    await assert.rejects(
      buildCached(
        opts(async (tmp) => {
          writeFileSync(path.join(tmp, "half"), "x");
          throw new Error("mmdebstrap broke");
        }),
      ),
      /mmdebstrap broke/,
    );
    assert.deepEqual(readdirSync(path.join(dir, "cache")), []);
  });

  it("keys are stable hashes of their parts; module texts are read beside the caller", async () => {
    assert.equal(cacheKey({ a: 1 }), cacheKey({ a: 1 }));
    assert.notEqual(cacheKey({ a: 1 }), cacheKey({ a: 2 }));
    const [[name, text]] = (await moduleTexts([new URL("./cache.js", import.meta.url)])) as [
      [string, string],
    ];
    assert.equal(name, "cache.js");
    assert.match(text, /buildCached/);
  });

  it("a new build removes the entries of older recipe versions, and nothing else", async () => {
    const root = path.join(dir, "prune");
    for (const n of [
      "image-x-0000000000000001",
      "image-x-0000000000000002",
      "image-xy-0000000000000003",
      "kernel-x-0000000000000004",
      "notes",
    ]) {
      mkdirSync(path.join(root, n), { recursive: true });
    }
    assert.deepEqual(await pruneSuperseded(root, "image-x-0000000000000002"), ["image-x-0000000000000001"]);
    assert.deepEqual(readdirSync(root).sort(), [
      "image-x-0000000000000002",
      "image-xy-0000000000000003",
      "kernel-x-0000000000000004",
      "notes",
    ]);
  });
});
