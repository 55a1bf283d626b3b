import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { copyIntoTree, linkInTree, removeHostKeys, treePath, writeTreeFile } from "./treeFs.js";

let dir: string;
let root: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-treefs-"));
  root = path.join(dir, "root");
  mkdirSync(path.join(root, "etc"), { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("tree file operations never follow the guest's symlinks onto the host", () => {
  it("a symlink at the target is replaced by a regular file; its host target is untouched", async () => {
    const host = path.join(dir, "host-resolv.conf");
    writeFileSync(host, "nameserver 192.0.2.1\n");
    symlinkSync(host, path.join(root, "etc", "resolv.conf"));
    await writeTreeFile(root, "etc/resolv.conf", "# none\n", 0o644);
    assert.equal(readFileSync(host, "utf8"), "nameserver 192.0.2.1\n");
    assert.ok(lstatSync(path.join(root, "etc", "resolv.conf")).isFile());
    assert.equal(readFileSync(path.join(root, "etc", "resolv.conf"), "utf8"), "# none\n");
  });

  it("a symlinked parent directory is refused", async () => {
    const hostDir = path.join(dir, "host-etc");
    mkdirSync(hostDir);
    symlinkSync(hostDir, path.join(root, "etc", "ssh"));
    await assert.rejects(writeTreeFile(root, "etc/ssh/sshd_config", "x"), /etc\/ssh is not a directory/);
    await assert.rejects(treePath(root, "../escape"), /leaves the tree/);
    assert.ok(!existsSync(path.join(hostDir, "sshd_config")));
  });

  it("makes missing parents, sets exact modes, links and copies", async () => {
    await writeTreeFile(root, "usr/lib/banger/update-hosts", "#!/bin/sh\n", 0o755);
    assert.equal(statSync(path.join(root, "usr/lib/banger/update-hosts")).mode & 0o7777, 0o755);
    await linkInTree(root, "etc/systemd/system/x.timer", "/dev/null");
    await linkInTree(root, "etc/systemd/system/x.timer", "/dev/null"); // idempotent
    assert.equal(readlinkSync(path.join(root, "etc/systemd/system/x.timer")), "/dev/null");
    const bin = path.join(dir, "agent");
    writeFileSync(bin, "ELF");
    await copyIntoTree(root, "/usr/sbin/banger-agent", bin, 0o755);
    assert.equal(statSync(path.join(root, "usr/sbin/banger-agent")).mode & 0o7777, 0o755);
  });

  it("removes every SSH host key and nothing else", async () => {
    const ssh = path.join(root, "etc", "ssh");
    mkdirSync(ssh);
    for (const f of ["ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ed25519_key", "sshd_config"])
      writeFileSync(path.join(ssh, f), "x");
    assert.deepEqual(await removeHostKeys(root), [
      "ssh_host_ed25519_key",
      "ssh_host_rsa_key",
      "ssh_host_rsa_key.pub",
    ]);
    assert.ok(existsSync(path.join(ssh, "sshd_config")));
  });
});
