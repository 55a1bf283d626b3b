import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bundlePathProblem, validateCatalog, validateManifest } from "./validate.js";

const SHA = "a".repeat(64);
const entry = (over: Record<string, unknown> = {}) => ({
  name: "deb",
  version: "12.8-20261127",
  arch: "x86_64",
  description: "Debian",
  sizeBytes: 100,
  recipe: "debian-bookworm",
  ...over,
});
const paths = (r: { problems: Array<{ path: string }> }) => r.problems.map((p) => p.path);

describe("validateCatalog", () => {
  it("accepts a good catalog and resolves relative bundle URLs against the catalog's URL", () => {
    const r = validateCatalog(
      {
        format: 1,
        kind: "image",
        entries: [entry({ kernel: "k", bundle: { url: "b/deb.tar.gz", sha256: SHA, sizeBytes: 5 } })],
      },
      "image",
      "https://example.test/cat/images.json",
    );
    assert.deepEqual(r.problems, []);
    assert.equal(r.catalog?.entries[0]?.bundle?.url, "https://example.test/cat/b/deb.tar.gz");
    assert.equal(r.catalog?.entries[0]?.kernel, "k");
  });

  it("reports every problem with its JSON path", () => {
    const r = validateCatalog(
      {
        format: 2,
        kind: "kernel",
        extra: true,
        entries: [
          entry({ name: "Bad_Name", sizeBytes: -1, arch: "arm64" }),
          entry({ bundle: { url: "ftp://x/y", sha256: "nope", sizeBytes: 1.5, more: 1 }, kernel: "k" }),
          entry({ recipe: undefined }),
          "not an object",
          entry({ version: "has space" }),
        ],
      },
      "image",
      null,
    );
    assert.equal(r.catalog, null);
    assert.deepEqual(paths(r).sort(), [
      "entries[0].arch",
      "entries[0].name",
      "entries[0].sizeBytes",
      "entries[1].bundle.more",
      "entries[1].bundle.sha256",
      "entries[1].bundle.sizeBytes",
      "entries[1].bundle.url",
      "entries[2]",
      "entries[2].name",
      "entries[3]",
      "entries[4].name",
      "entries[4].version",
      "extra",
      "format",
      "kind",
    ]);
    assert.match(
      r.problems.find((p) => p.path === "entries[2].name")!.message,
      /already the name of entries\[1\]/,
    );
    assert.match(
      r.problems.find((p) => p.path === "entries[2]")!.message,
      /neither a "bundle" nor a "recipe"/,
    );
  });

  it("refuses a kernel field in the kernel catalog and relative URLs without a base", () => {
    const r = validateCatalog(
      {
        format: 1,
        kind: "kernel",
        entries: [entry({ kernel: "k", bundle: { url: "rel.tar.gz", sha256: SHA, sizeBytes: 1 } })],
      },
      "kernel",
      null,
    );
    assert.deepEqual(paths(r).sort(), ["entries[0].bundle.url", "entries[0].kernel"]);
  });

  it("needs entries to be an array", () => {
    assert.deepEqual(paths(validateCatalog({ format: 1, kind: "image" }, "image", null)), ["entries"]);
    assert.deepEqual(paths(validateCatalog([], "image", null)), ["(top level)"]);
  });
});

describe("validateManifest", () => {
  const file = (p: string) => ({ path: p, sizeBytes: 3, sha256: SHA });
  it("accepts the image roles and refuses others", () => {
    const ok = validateManifest(
      {
        format: 1,
        kind: "image",
        name: "deb",
        version: "1",
        arch: "x86_64",
        files: { rootfs: file("rootfs.ext4"), workSeed: file("w.ext4") },
      },
      "image",
    );
    assert.deepEqual(ok.problems, []);
    const bad = validateManifest(
      {
        format: 1,
        kind: "kernel",
        name: "deb",
        version: "1",
        arch: "x86_64",
        files: { rootfs: file("../x"), vmlinux: file("/abs"), initrd: file("a") },
      },
      "image",
    );
    assert.deepEqual(paths(bad).sort(), ["files.rootfs.path", "files.vmlinux", "files.workSeed", "kind"]);
  });
});

describe("bundlePathProblem", () => {
  it("allows plain relative paths only", () => {
    assert.equal(bundlePathProblem("rootfs.ext4"), null);
    assert.equal(bundlePathProblem("a/b.img"), null);
    for (const bad of ["", "/etc/passwd", "../evil", "a/../b", "./a", "a//b", "a\\b", "manifest.json"]) {
      assert.notEqual(bundlePathProblem(bad), null, bad);
    }
  });
});
