import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { BangerError } from "../errors/index.js";
import {
  contentRangeStart,
  type DownloadOptions,
  type DownloadProgress,
  download,
  isNetworkFailure,
} from "./download.js";
import { closedPort, sendBody, startServer, type TestServer } from "./testHttp.js";
import { CatalogErrorCodes } from "./types.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "banger-dl-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const BODY = randomBytes(256 * 1024);
const SHA = createHash("sha256").update(BODY).digest("hex");
const fast: Partial<DownloadOptions> = { backoffMs: 1, retries: 3, progressIntervalMs: 0 };

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

let n = 0;
const dest = () => path.join(tmp, `out-${n++}`);

async function failure(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, String(e));
    return e;
  }
  assert.fail("expected a failure");
}

function assertNothingLeft(file: string): void {
  assert.equal(existsSync(file), false);
  assert.equal(existsSync(`${file}.part`), false);
}

describe("download over HTTP", () => {
  it("streams to DEST.part, verifies, renames, and reports progress", async () => {
    server = await startServer((req, res) => sendBody(req, res, BODY));
    const out = dest();
    const seen: DownloadProgress[] = [];
    const r = await download(`${server.base}/b.tar.gz`, out, {
      ...fast,
      sha256: SHA,
      sizeBytes: BODY.length,
      onProgress: (p) => seen.push(p),
    });
    assert.deepEqual(readFileSync(out), BODY);
    assert.equal(r.sha256, SHA);
    assert.equal(existsSync(`${out}.part`), false);
    const last = seen.at(-1)!;
    assert.equal(last.current, BODY.length);
    assert.equal(last.total, BODY.length);
    assert.ok(seen.every((p) => p.rate >= 0));
  });

  it("resumes with a Range request after the connection drops", async () => {
    server = await startServer((req, res, i) =>
      sendBody(req, res, BODY, i === 0 ? { dropAfter: 100_000 } : {}),
    );
    const out = dest();
    const retries: number[] = [];
    const r = await download(`${server.base}/b`, out, {
      ...fast,
      sha256: SHA,
      sizeBytes: BODY.length,
      onRetry: (x) => retries.push(x.resumeFrom),
    });
    assert.deepEqual(readFileSync(out), BODY);
    assert.equal(r.resumes, 1);
    assert.equal(r.restarts, 0);
    assert.equal(server.requests[0]?.range, null);
    assert.equal(server.requests[1]?.range, `bytes=${retries[0]}-`);
    assert.ok(retries[0]! > 0);
  });

  it("starts over when the server ignores Range (200)", async () => {
    server = await startServer((req, res, i) =>
      sendBody(req, res, BODY, i === 0 ? { dropAfter: 50_000 } : { honorRange: false }),
    );
    const out = dest();
    const r = await download(`${server.base}/b`, out, { ...fast, sha256: SHA, sizeBytes: BODY.length });
    assert.deepEqual(readFileSync(out), BODY);
    assert.equal(r.restarts, 1);
    assert.ok(server.requests[1]?.range);
  });

  it("gives up on a body that is always cut short, leaving nothing", async () => {
    server = await startServer((req, res) => sendBody(req, res, BODY, { dropAfter: 1000 }));
    const out = dest();
    const e = await failure(download(`${server.base}/b`, out, { ...fast, retries: 2, sha256: SHA }));
    assert.equal(e.code, CatalogErrorCodes.DOWNLOAD_FAILED);
    assert.match(e.message, /after 3 attempts/);
    assert.ok(e.message.includes(`${server.base}/b`));
    assertNothingLeft(out);
  });

  it("a wrong sha256 is CHECKSUM_MISMATCH and leaves nothing", async () => {
    server = await startServer((req, res) => sendBody(req, res, BODY));
    const out = dest();
    const e = await failure(download(`${server.base}/b`, out, { ...fast, sha256: "0".repeat(64) }));
    assert.equal(e.code, CatalogErrorCodes.CHECKSUM_MISMATCH);
    assert.ok(e.message.includes(SHA));
    assertNothingLeft(out);
  });

  it("404 fails at once, naming the URL and the status", async () => {
    server = await startServer((_req, res) => res.writeHead(404).end("no"));
    const out = dest();
    const e = await failure(download(`${server.base}/missing.tar.gz`, out, { ...fast, sha256: SHA }));
    assert.equal(e.code, CatalogErrorCodes.DOWNLOAD_FAILED);
    assert.match(e.message, /missing\.tar\.gz failed: HTTP 404 Not Found/);
    assert.equal(server.requests.length, 1);
    assert.equal(isNetworkFailure(e), false);
    assertNothingLeft(out);
  });

  it("retries a 503, follows redirects", async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) res.writeHead(503).end();
      else if (req.url === "/old") res.writeHead(302, { location: "/new" }).end();
      else sendBody(req, res, BODY);
    });
    const out = dest();
    await download(`${server.base}/old`, out, { ...fast, sha256: SHA });
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ["/old", "/old", "/new"],
    );
  });

  it("refuses a body longer than the catalog says", async () => {
    server = await startServer((req, res) => sendBody(req, res, BODY));
    const e = await failure(download(`${server.base}/b`, dest(), { ...fast, sha256: SHA, sizeBytes: 10 }));
    assert.match(e.message, /announces 262144 bytes, the catalog says 10/);
  });

  it("connection refused is a network failure (after retries)", async () => {
    const port = await closedPort();
    const out = dest();
    const e = await failure(
      download(`http://127.0.0.1:${port}/b`, out, { ...fast, retries: 1, sha256: SHA }),
    );
    assert.equal(e.code, CatalogErrorCodes.DOWNLOAD_FAILED);
    assert.match(e.message, /connection refused \(ECONNREFUSED\)/);
    assert.ok(isNetworkFailure(e));
    assertNothingLeft(out);
  });
});

describe("download from file://", () => {
  it("copies and verifies", async () => {
    const src = path.join(tmp, "src.bin");
    writeFileSync(src, BODY);
    const out = dest();
    await download(pathToFileURL(src).href, out, { sha256: SHA, sizeBytes: BODY.length });
    assert.deepEqual(readFileSync(out), BODY);
  });

  it("a missing file is DOWNLOAD_FAILED, not a network failure", async () => {
    const out = dest();
    const e = await failure(download(pathToFileURL(path.join(tmp, "nope")).href, out, { sha256: SHA }));
    assert.match(e.message, /no such file/);
    assert.equal(isNetworkFailure(e), false);
    assertNothingLeft(out);
  });
});

describe("helpers", () => {
  it("contentRangeStart", () => {
    assert.equal(contentRangeStart("bytes 100-199/200"), 100);
    assert.equal(contentRangeStart("bytes 0-1/*"), 0);
    assert.equal(contentRangeStart(undefined), null);
    assert.equal(contentRangeStart("junk"), null);
  });

  it("isNetworkFailure knows errno codes and fetch's message", () => {
    assert.ok(isNetworkFailure(Object.assign(new Error("x"), { code: "ENOTFOUND" })));
    assert.ok(isNetworkFailure(new TypeError("fetch failed")));
    assert.ok(isNetworkFailure({ cause: { code: "ETIMEDOUT" } }));
    assert.equal(isNetworkFailure(new Error("HTTP 500")), false);
  });

  it("leaves no temp files in the directory", () => {
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.endsWith(".part")),
      [],
    );
  });
});
