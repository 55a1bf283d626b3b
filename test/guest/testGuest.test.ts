import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { INIT_SCRIPT } from "../../src/guest/initScript.js";
import {
  defaultCacheDir,
  parseLdd,
  RECIPE_SOURCES,
  readRecipeSources,
  recipeHash,
  TEST_GUEST_APT_PACKAGES,
  TEST_GUEST_DEB_PACKAGES,
} from "./testGuest.js";

const sources = [
  { name: "src/guest/kernel.ts", text: "export const a = 1;\n" },
  { name: "test/guest/testGuest.ts", text: "export const b = 2;\n" },
];
const packages = ["linux-image-amd64", "busybox-static"];

describe("recipeHash", () => {
  it("is a stable sha256 of the recipe", () => {
    const h = recipeHash(sources, INIT_SCRIPT, packages);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(recipeHash(structuredClone(sources), INIT_SCRIPT, [...packages]), h);
  });

  it("changes when a source file, the init script or the package list changes", () => {
    const h = recipeHash(sources, INIT_SCRIPT, packages);
    const edited = [sources[0]!, { ...sources[1]!, text: "export const b = 3;\n" }];
    assert.notEqual(recipeHash(edited, INIT_SCRIPT, packages), h);
    assert.notEqual(recipeHash(sources, `${INIT_SCRIPT}\n# changed`, packages), h);
    assert.notEqual(recipeHash(sources, INIT_SCRIPT, [...packages, "dropbear-bin"]), h);
    const renamed = [{ ...sources[0]!, name: "src/guest/other.ts" }, sources[1]!];
    assert.notEqual(recipeHash(renamed, INIT_SCRIPT, packages), h);
  });

  it("is computed from the real recipe sources in the repository", async () => {
    const real = await readRecipeSources();
    assert.deepEqual(
      real.map((s) => s.name),
      [...RECIPE_SOURCES],
    );
    assert.ok(real.every((s) => s.text.length > 0));
    assert.ok(real.some((s) => s.text.includes("export const INIT_SCRIPT")));
  });
});

describe("parseLdd", () => {
  it("collects resolved libraries and the loader, skips the vdso, reports missing sonames", () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd1a5f2000)
\tlibtomcrypt.so.1 => /tmp/w/dropbear-root/usr/lib/x86_64-linux-gnu/libtomcrypt.so.1 (0x00007f2c0a000000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f2c09fe0000)
\tlibtommath.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f2c0a1c0000)
`;
    assert.deepEqual(parseLdd(out), {
      paths: [
        "/tmp/w/dropbear-root/usr/lib/x86_64-linux-gnu/libtomcrypt.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/lib64/ld-linux-x86-64.so.2",
      ],
      missing: ["libtommath.so.1"],
    });
  });
});

describe("test guest settings", () => {
  it("caches under $BANGER_TEST_CACHE, else /var/cache/banger-test", () => {
    assert.equal(defaultCacheDir({ BANGER_TEST_CACHE: "/tmp/c" }), "/tmp/c");
    assert.equal(defaultCacheDir({}), "/var/cache/banger-test");
  });

  it("names the host and guest packages", () => {
    for (const p of ["kmod", "cpio", "xz-utils", "e2fsprogs", "dpkg"])
      assert.ok(TEST_GUEST_APT_PACKAGES.includes(p));
    for (const p of ["linux-image-amd64", "busybox-static", "dropbear-bin"])
      assert.ok(TEST_GUEST_DEB_PACKAGES.includes(p));
  });
});
