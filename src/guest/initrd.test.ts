import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { INITRD_MODULES, listTree, moduleLoadOrder, parseShowDepends, resolveModules } from "./initrd.js";
import { INIT_SCRIPT } from "./initScript.js";

const K = "/k/lib/modules/6.1.0-56-amd64/kernel";
const SHOW_VIRTIO_NET = `insmod ${K}/drivers/virtio/virtio_ring.ko 
insmod ${K}/drivers/virtio/virtio.ko 
insmod ${K}/net/core/failover.ko 
insmod ${K}/drivers/net/net_failover.ko 
insmod ${K}/drivers/net/virtio_net.ko napi_tx=1
`;
const SHOW_EXT4 = `insmod ${K}/arch/x86/crypto/crc32c-intel.ko 
insmod ${K}/crypto/crc32c_generic.ko 
insmod ${K}/fs/jbd2/jbd2.ko 
insmod ${K}/fs/mbcache.ko 
insmod ${K}/lib/crc16.ko 
insmod ${K}/fs/ext4/ext4.ko 
builtin unix
`;

describe("parseShowDepends", () => {
  it("reads insmod lines (options dropped) and builtin lines", () => {
    const r = parseShowDepends(`${SHOW_VIRTIO_NET}\n${SHOW_EXT4}`);
    assert.equal(r.files.length, 11);
    assert.equal(r.files[4], `${K}/drivers/net/virtio_net.ko`);
    assert.deepEqual(r.builtin, ["unix"]);
  });

  it("ignores blank and unknown lines", () => {
    assert.deepEqual(parseShowDepends("\n  \nmodprobe: WARNING: x\n"), { files: [], builtin: [] });
  });
});

describe("moduleLoadOrder", () => {
  it("keeps dependencies first and drops repeats", () => {
    const blk = `insmod ${K}/drivers/virtio/virtio_ring.ko \ninsmod ${K}/drivers/virtio/virtio.ko \ninsmod ${K}/drivers/block/virtio_blk.ko \n`;
    const order = moduleLoadOrder([blk, SHOW_VIRTIO_NET, SHOW_EXT4]).map((f) => path.basename(f, ".ko"));
    assert.deepEqual(order, [
      "virtio_ring",
      "virtio",
      "virtio_blk",
      "failover",
      "net_failover",
      "virtio_net",
      "crc32c-intel",
      "crc32c_generic",
      "jbd2",
      "mbcache",
      "crc16",
      "ext4",
    ]);
  });
});

describe("resolveModules", () => {
  it("runs depmod on the tree, then one modprobe --show-depends for every module", async () => {
    const runner = new FakeCommandRunner().on(["modprobe"], { stdout: SHOW_EXT4 });
    const files = await resolveModules("/k", "6.1.0-56-amd64", ["ext4", "overlay"], runner);
    assert.deepEqual(runner.calls, [
      ["depmod", "-b", "/k", "6.1.0-56-amd64"],
      ["modprobe", "-d", "/k", "-S", "6.1.0-56-amd64", "--show-depends", "-a", "ext4", "overlay"],
    ]);
    assert.equal(files.at(-1), `${K}/fs/ext4/ext4.ko`);
  });

  it("asks for virtio_ring before virtio (modinfo misses that dependency)", () => {
    assert.ok(INITRD_MODULES.indexOf("virtio_ring") < INITRD_MODULES.indexOf("virtio"));
    for (const m of ["virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "ext4", "overlay", "vsock"]) {
      assert.ok(INITRD_MODULES.includes(m), m);
    }
  });
});

describe("listTree", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("lists '.' first and every directory before its contents, without following symlinks", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-initrd-test-"));
    dirs.push(dir);
    await mkdir(path.join(dir, "lib/modules"), { recursive: true });
    await mkdir(path.join(dir, "bin"));
    await writeFile(path.join(dir, "init"), "#!/bin/sh\n");
    await writeFile(path.join(dir, "lib/modules/a.ko"), "");
    await symlink("/bin/busybox", path.join(dir, "bin/sh"));
    await symlink("/lib", path.join(dir, "lib-link"));
    assert.deepEqual(await listTree(dir), [
      ".",
      "bin",
      "bin/sh",
      "init",
      "lib",
      "lib-link",
      "lib/modules",
      "lib/modules/a.ko",
    ]);
  });
});

describe("INIT_SCRIPT", () => {
  it("is valid sh", () => {
    const r = spawnSync("sh", ["-n"], { input: INIT_SCRIPT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });

  it("powers off after a 1 s delay on failure and switches to the new root", () => {
    assert.match(INIT_SCRIPT, /^#!\/bin\/sh\n/);
    assert.match(INIT_SCRIPT, /banger-init: \$\*"\n[\s\S]*sleep 1\n\s*poweroff -f/);
    assert.match(INIT_SCRIPT, /lowerdir=\/lower,upperdir=\/cow\/upper,workdir=\/cow\/work \/newroot/);
    assert.match(INIT_SCRIPT, /exec switch_root \/newroot "\$INIT"/);
  });

  it("converts netmasks to prefix lengths", () => {
    const fn = /^mask_to_prefix\(\) \{\n[\s\S]*?\n\}\n/m.exec(INIT_SCRIPT)?.[0];
    assert.ok(fn);
    const run = (mask: string) =>
      spawnSync("sh", ["-c", `${fn}\nmask_to_prefix "$1"`, "sh", mask], { encoding: "utf8" });
    assert.equal(run("255.255.255.0").stdout.trim(), "24");
    assert.equal(run("255.255.240.0").stdout.trim(), "20");
    assert.equal(run("255.255.255.252").stdout.trim(), "30");
    assert.equal(run("16").stdout.trim(), "16");
    assert.equal(run("").stdout.trim(), "24");
    assert.notEqual(run("255.0.255.7").status, 0);
  });
});
