import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  assertRestoreVersion,
  assertSupportedVersion,
  checkFirecrackerVersion,
  MIN_FIRECRACKER_VERSION,
  MIN_RESTORE_VERSION,
  parseFirecrackerVersion,
} from "./version.js";

describe("Firecracker version check", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bfv-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const f = path.join(dir, name);
    writeFileSync(f, `#!/bin/sh\n${body}\n`);
    chmodSync(f, 0o755);
    return f;
  };

  it("parses the first line of `firecracker --version`", () => {
    const out = "Firecracker v1.16.1\n\nSupported snapshot data format versions: v8.0.0\n";
    assert.deepEqual(parseFirecrackerVersion(out), [1, 16, 1]);
    assert.deepEqual(parseFirecrackerVersion("Firecracker v1.17.0-dev"), [1, 17, 0]);
    assert.equal(parseFirecrackerVersion("QEMU emulator version 7.2.0"), null);
  });

  it("accepts the minimum and newer, refuses older with both versions named", () => {
    assert.equal(MIN_FIRECRACKER_VERSION, "1.8.0");
    assert.equal(assertSupportedVersion("fc", "Firecracker v1.8.0"), "1.8.0");
    assert.equal(assertSupportedVersion("fc", "Firecracker v2.0.0"), "2.0.0");
    assert.throws(() => assertSupportedVersion("/opt/fc", "Firecracker v1.7.9"), {
      code: "PREFLIGHT_FAILED",
      message: "/opt/fc is Firecracker 1.7.9; banger needs 1.8.0 or newer",
    });
    assert.throws(
      () => assertSupportedVersion("fc", "Firecracker v0.25.2"),
      /0\.25\.2; banger needs 1\.8\.0/,
    );
    assert.throws(() => assertSupportedVersion("fc", "hello"), /printed no "Firecracker vX.Y.Z" line/);
  });

  it("restoring a saved state needs 1.16.0 (vsock_override on PUT /snapshot/load)", () => {
    assert.equal(MIN_RESTORE_VERSION, "1.16.0");
    assert.doesNotThrow(() => assertRestoreVersion("fc", "1.16.0"));
    assert.doesNotThrow(() => assertRestoreVersion("fc", "1.17.2"));
    assert.throws(() => assertRestoreVersion("/opt/fc", "1.15.1"), {
      code: "PREFLIGHT_FAILED",
      message:
        "/opt/fc is Firecracker 1.15.1; restoring a saved VM needs 1.16.0 or newer (PUT /snapshot/load with vsock_override)",
    });
    assert.throws(() => assertRestoreVersion("fc", "garbage"), /restoring a saved VM needs 1\.16\.0/);
  });

  it("runs the binary", async () => {
    assert.equal(await checkFirecrackerVersion(script("new", 'echo "Firecracker v1.16.1"')), "1.16.1");
    await assert.rejects(
      checkFirecrackerVersion(script("old", 'echo "Firecracker v1.4.1"')),
      /1\.4\.1; banger/,
    );
    await assert.rejects(
      checkFirecrackerVersion(script("bad", "echo boom >&2; exit 3")),
      /--version failed.*boom/,
    );
    await assert.rejects(checkFirecrackerVersion(path.join(dir, "missing")), {
      code: "PREFLIGHT_FAILED",
      message: /cannot run .*missing: not found/,
    });
  });
});
