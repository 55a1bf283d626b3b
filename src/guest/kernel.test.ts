import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { extractVmlinux, findXzOffsets, isElf, versionedImagePackage, XZ_MAGIC } from "./kernel.js";

describe("findXzOffsets", () => {
  it("finds every occurrence of the xz magic, in order", () => {
    const buf = Buffer.concat([
      Buffer.from("MZ header"),
      XZ_MAGIC,
      Buffer.from("data"),
      XZ_MAGIC,
      Buffer.from("x"),
    ]);
    assert.deepEqual(findXzOffsets(buf), [9, 9 + 6 + 4]);
  });

  it("finds the magic at offset 0 and ignores partial matches", () => {
    const partial = XZ_MAGIC.subarray(0, 5);
    const buf = Buffer.concat([XZ_MAGIC, partial, Buffer.from([0x01]), partial]);
    assert.deepEqual(findXzOffsets(buf), [0]);
  });

  it("returns nothing when there is no xz stream", () => {
    assert.deepEqual(findXzOffsets(Buffer.from("no compressed kernel here")), []);
  });
});

describe("isElf", () => {
  it("checks the ELF magic", () => {
    assert.equal(isElf(Buffer.from("\x7fELF\x02\x01", "latin1")), true);
    assert.equal(isElf(Buffer.from("MZ")), false);
    assert.equal(isElf(Buffer.alloc(0)), false);
  });
});

describe("versionedImagePackage", () => {
  it("picks the versioned image out of the meta package's Depends", () => {
    assert.equal(
      versionedImagePackage("linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n"),
      "linux-image-6.1.0-56-amd64",
    );
    assert.equal(
      versionedImagePackage(
        "firmware-x (>= 1), linux-image-6.12.9+deb13-amd64 | linux-image-6.12.9+deb13-amd64-unsigned",
      ),
      "linux-image-6.12.9+deb13-amd64",
    );
  });

  it("returns undefined when no versioned image is named", () => {
    assert.equal(versionedImagePackage("linux-image-amd64-signed, libc6"), undefined);
  });
});

describe("extractVmlinux", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("tries each xz stream until one decompresses to an ELF", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-kernel-test-"));
    dirs.push(dir);
    const vmlinuz = path.join(dir, "vmlinuz");
    const out = path.join(dir, "vmlinux");
    // Two magic occurrences: the first is a false match, the second the real stream.
    await writeFile(
      vmlinuz,
      Buffer.concat([Buffer.from("boot"), XZ_MAGIC, Buffer.from("junk"), XZ_MAGIC, Buffer.from("ok")]),
    );
    const runner = new FakeCommandRunner().on(["xz"], (argv) => fakeXz(argv[argv.length - 1]!, out));
    await extractVmlinux(vmlinuz, out, runner);
    assert.equal(runner.calls.length, 2);
    assert.deepEqual(runner.calls[0]?.slice(0, 5), ["xz", "-d", "-k", "-f", "--single-stream"]);
    assert.equal(isElf(await readFile(out)), true);
  });

  it("fails with a clear error when no stream yields an ELF", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-kernel-test-"));
    dirs.push(dir);
    const vmlinuz = path.join(dir, "vmlinuz");
    await writeFile(vmlinuz, Buffer.from("no stream"));
    await assert.rejects(extractVmlinux(vmlinuz, path.join(dir, "vmlinux"), new FakeCommandRunner()), (e) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /no xz-compressed ELF kernel/);
      return true;
    });
  });
});

/** Stand-in for xz: a stream whose data starts with "junk" is corrupt, any other decompresses to an ELF. */
function fakeXz(packed: string, out: string): { code: number; stderr?: string } {
  const data = readFileSync(packed);
  if (data.subarray(XZ_MAGIC.length).toString().startsWith("junk")) return { code: 1, stderr: "corrupt" };
  writeFileSync(out, Buffer.from("\x7fELF rest of kernel", "latin1"));
  return { code: 0 };
}
