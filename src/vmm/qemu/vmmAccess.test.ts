import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { checkTunAccess, vmmReadable } from "./vmmAccess.js";

const other = { uid: 4_000_321, gid: 4_000_321 };

describe("what the unprivileged VMM can reach", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "banger-vmmaccess-"));
  after(() => rm(dir, { recursive: true, force: true }));

  it("a kernel the VMM user cannot read gets a world-readable copy; a readable one is used as is", async () => {
    const k = path.join(dir, "vmlinux");
    await writeFile(k, "KERNEL");
    await chmod(k, 0o600);
    const copy = path.join(dir, "kernel.vmm");
    assert.equal(await vmmReadable(k, copy, other), copy);
    assert.equal((await stat(copy)).mode & 0o777, 0o644);
    await chmod(k, 0o644);
    assert.equal(await vmmReadable(k, path.join(dir, "unused"), other), k);
    await chmod(k, 0o600);
    assert.equal(await vmmReadable(k, path.join(dir, "unused"), null), k, "the daemon's own user reads it");
  });

  it("/dev/net/tun must be read-writable for the VMM's uid, with a hint", async () => {
    const tun = path.join(dir, "tun");
    await writeFile(tun, "");
    await chmod(tun, 0o600);
    await assert.rejects(checkTunAccess(other, tun), (e: Error & { hint?: string }) => {
      assert.match(e.message, /the VMM \(uid 4000321\) cannot open .*tun to attach to its TAP/);
      assert.match(e.hint ?? "", /chmod 0666/);
      return true;
    });
    await chmod(tun, 0o666);
    await checkTunAccess(other, tun);
  });
});
