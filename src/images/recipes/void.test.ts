import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { customizeVoidTree, download, VOID_DEFAULT_SHA256, VOID_DEFAULT_URL, voidSource } from "./void.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-void-unit-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fetchOf = (body: string, status = 200): typeof fetch =>
  (async () => new Response(body, { status })) as unknown as typeof fetch;

describe("void recipe pieces", () => {
  it("reads source.url/sha256 from the catalog entry, with a default URL and the date as version", () => {
    assert.deepEqual(voidSource({}), {
      url: VOID_DEFAULT_URL,
      sha256: VOID_DEFAULT_SHA256,
      version: "20250202",
    });
    assert.match(VOID_DEFAULT_SHA256, /^[0-9a-f]{64}$/);
    const sha = "AB".repeat(32);
    const s = voidSource({
      version: "rolling",
      source: { url: "http://127.0.0.1:9/void.tar.xz", sha256: sha },
    });
    assert.deepEqual(s, {
      url: "http://127.0.0.1:9/void.tar.xz",
      sha256: sha.toLowerCase(),
      version: "rolling",
    });
    assert.throws(() => voidSource({ source: { sha256: "nope" } }), /not a sha256/);
  });

  it("a download needs a pinned sha256 or https", () => {
    assert.throws(
      () => voidSource({ source: { url: "http://mirror.example/void-x86_64-ROOTFS-20250202.tar.xz" } }),
      (e: Error & { hint?: string }) =>
        /source\.url http:\/\/mirror\.example\/.* is neither https nor pinned/.test(e.message) &&
        /source\.sha256/.test(e.hint ?? ""),
    );
    const https = voidSource({
      source: { url: "https://mirror.example/void-x86_64-ROOTFS-20250301.tar.xz" },
    });
    assert.deepEqual(https, {
      url: "https://mirror.example/void-x86_64-ROOTFS-20250301.tar.xz",
      sha256: undefined,
      version: "20250301",
    });
  });

  it("downloads and checks the sha256; a mismatch removes the file", async () => {
    const file = path.join(dir, "r.tar");
    const sha = createHash("sha256").update("tarball").digest("hex");
    await download(fetchOf("tarball"), { url: "http://x/r.tar", sha256: sha }, file);
    assert.equal(readFileSync(file, "utf8"), "tarball");
    await assert.rejects(
      download(fetchOf("tarball"), { url: "http://x/r.tar", sha256: "0".repeat(64) }, file),
      /sha256 mismatch/,
    );
    assert.ok(!existsSync(file));
    await assert.rejects(
      download(fetchOf("", 404), { url: "http://x/r.tar", sha256: undefined }, file),
      /HTTP 404/,
    );
  });

  it("refuses a tree that is not a usable Void rootfs", async () => {
    const root = path.join(dir, "root");
    mkdirSync(path.join(root, "etc/runit/runsvdir/default"), { recursive: true });
    const agent = path.join(dir, "agent");
    writeFileSync(agent, "ELF");
    await assert.rejects(
      customizeVoidTree(root, agent),
      /has no sshd runit service \(\/etc\/sv\/sshd\/run\)/,
    );
  });
});
