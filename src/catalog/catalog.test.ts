import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { BangerError } from "../errors/index.js";
import { CatalogLoader, defaultCatalogDir } from "./catalog.js";
import { closedPort } from "./testHttp.js";
import { CatalogErrorCodes } from "./types.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "banger-cat-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function userCatalog(name: string, body: unknown): string {
  const f = path.join(tmp, name);
  writeFileSync(f, typeof body === "string" ? body : JSON.stringify(body));
  return pathToFileURL(f).href;
}

const loader = (image: string | null = null, kernel: string | null = null) =>
  new CatalogLoader({ urls: () => ({ image, kernel }) });

async function rejects(p: Promise<unknown>): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError, String(e));
    return e;
  }
  assert.fail("expected a rejection");
}

describe("embedded catalogs", () => {
  it("are found from the compiled code and are valid", async () => {
    assert.ok(defaultCatalogDir().endsWith(path.join("data", "catalog")));
    const images = await loader().load("image");
    assert.deepEqual(images.names(), ["debian-bookworm", "void"]);
    const deb = images.get("debian-bookworm");
    assert.equal(deb.recipe, "debian-bookworm");
    assert.equal(deb.kernel, "debian-bookworm-kernel");
    assert.equal(deb.bundle, undefined);
    assert.equal(deb.origin, "embedded");
    assert.equal(images.get("void").kernel, "debian-bookworm-kernel");
    const kernels = await loader().load("kernel");
    assert.deepEqual(kernels.names(), ["debian-bookworm-kernel"]);
    assert.equal(kernels.get("debian-bookworm-kernel").recipe, "debian-kernel");
  });

  it("a lookup of an unknown name is NOT_FOUND listing the available names", async () => {
    const images = await loader().load("image");
    const e = (() => {
      try {
        images.get("debian-bookwrm");
      } catch (err) {
        return err as BangerError;
      }
      assert.fail("no error");
    })();
    assert.equal(e.code, "NOT_FOUND");
    assert.match(e.message, /no image named "debian-bookwrm"/);
    assert.match(e.message, /did you mean "debian-bookworm"/);
    assert.match(e.message, /available: debian-bookworm, void/);
    assert.deepEqual((e.details as { available: string[] }).available, ["debian-bookworm", "void"]);
  });
});

describe("user catalogs", () => {
  const SHA = "b".repeat(64);
  it("extend the embedded one; the user's entry wins on a name clash", async () => {
    const url = userCatalog("images.json", {
      format: 1,
      kind: "image",
      entries: [
        {
          name: "void",
          version: "mine",
          arch: "x86_64",
          description: "my void",
          sizeBytes: 1,
          bundle: { url: "void.tar.gz", sha256: SHA, sizeBytes: 9 },
        },
        { name: "alpine", version: "3.20", arch: "x86_64", description: "", sizeBytes: 1, recipe: "alpine" },
      ],
    });
    const c = await loader(url).load("image");
    assert.deepEqual(c.names(), ["alpine", "debian-bookworm", "void"]);
    const v = c.get("void");
    assert.equal(v.version, "mine");
    assert.equal(v.origin, url);
    assert.equal(v.bundle?.url, pathToFileURL(path.join(tmp, "void.tar.gz")).href);
    assert.equal(c.get("debian-bookworm").origin, "embedded");
  });

  it("an invalid one is CATALOG_INVALID naming the URL and every bad field's path", async () => {
    const url = userCatalog("bad.json", {
      format: 1,
      kind: "kernel",
      entries: [{ name: "k", version: "1", arch: "x86_64", description: "", sizeBytes: "big", recipe: "r" }],
    });
    const e = await rejects(loader(null, url).load("kernel"));
    assert.equal(e.code, CatalogErrorCodes.CATALOG_INVALID);
    assert.ok(e.message.includes(url), e.message);
    assert.match(e.message, /entries\[0\]\.sizeBytes: expected a whole number of bytes/);
    assert.match(e.hint ?? "", /kernel_catalog_url/);
  });

  it("a file that is not JSON is CATALOG_INVALID", async () => {
    const e = await rejects(loader(userCatalog("junk.json", "{ nope")).load("image"));
    assert.equal(e.code, CatalogErrorCodes.CATALOG_INVALID);
    assert.match(e.message, /not JSON/);
  });

  it("an unreachable one is CATALOG_UNAVAILABLE naming the URL", async () => {
    const missing = pathToFileURL(path.join(tmp, "missing.json")).href;
    const e = await rejects(loader(missing).load("image"));
    assert.equal(e.code, CatalogErrorCodes.CATALOG_UNAVAILABLE);
    assert.ok(e.message.includes(missing));
    assert.match(e.message, /no such file/);
    const port = await closedPort();
    const refused = await rejects(loader(`http://127.0.0.1:${port}/images.json`).load("image"));
    assert.equal(refused.code, CatalogErrorCodes.CATALOG_UNAVAILABLE);
    assert.ok(
      refused.message.includes(`http://127.0.0.1:${port}/images.json: connection refused`),
      refused.message,
    );
  });

  it("is read on each load (config changes apply)", async () => {
    let url: string | null = null;
    const l = new CatalogLoader({ urls: () => ({ image: url, kernel: null }) });
    assert.equal((await l.load("image")).find("alpine"), undefined);
    url = userCatalog("again.json", {
      format: 1,
      kind: "image",
      entries: [{ name: "alpine", version: "1", arch: "x86_64", description: "", sizeBytes: 1, recipe: "a" }],
    });
    assert.ok((await l.load("image")).find("alpine"));
  });
});
