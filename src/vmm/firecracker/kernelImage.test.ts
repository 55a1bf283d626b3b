import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { checkKernelImage, describeKernelHeader } from "./kernelImage.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-kernel-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function header(parts: Array<[number, string | number[]]>): Buffer {
  const b = Buffer.alloc(0x240);
  for (const [at, v] of parts)
    (typeof v === "string" ? Buffer.from(v, "latin1") : Buffer.from(v)).copy(b, at);
  return b;
}

test("an ELF vmlinux passes", async () => {
  const f = path.join(dir, "vmlinux");
  writeFileSync(f, header([[0, "\x7fELF"]]));
  await checkKernelImage(f);
});

test("a bzImage is named as such, with the file", async () => {
  const f = path.join(dir, "bzImage");
  writeFileSync(
    f,
    header([
      [0, "MZ"],
      [0x202, "HdrS"],
    ]),
  );
  await assert.rejects(checkKernelImage(f), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.equal(
      e.message,
      `kernel image ${f} looks like a compressed bzImage; Firecracker needs an uncompressed vmlinux`,
    );
    assert.match(e.hint ?? "", /vmlinux/);
    return true;
  });
});

test("other formats are described", () => {
  assert.match(describeKernelHeader(header([[0, [0x1f, 0x8b]]])), /gzip/);
  assert.match(describeKernelHeader(header([[0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]]])), /xz/);
  assert.match(describeKernelHeader(header([[0, [0x28, 0xb5, 0x2f, 0xfd]]])), /zstd/);
  assert.match(describeKernelHeader(header([[0x38, "ARM\x64"]])), /arm64 Image/);
  assert.match(describeKernelHeader(header([[0, "MZ"]])), /PE\/EFI/);
  assert.equal(describeKernelHeader(Buffer.alloc(0)), "is empty");
  assert.equal(
    describeKernelHeader(Buffer.from("#!/bin")),
    'starts with bytes 23 21 2f 62, not the ELF magic 7f 45 4c 46 ("\\x7fELF")',
  );
});

test("a missing kernel is NOT_FOUND", async () => {
  await assert.rejects(checkKernelImage(path.join(dir, "nope")), {
    code: "NOT_FOUND",
    message: /nope.*no such file/,
  });
});
