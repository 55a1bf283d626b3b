import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import type { BootSpec } from "../driver.js";
import { absoluteSpec, DIRECT_DRIVE_DIR, directSpec, linkDrives, unlinkDrives } from "./direct.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "bfd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const spec = (vmDir: string): BootSpec => ({
  id: "0123456789abcdef",
  name: "t",
  vcpu: 1,
  memoryMib: 128,
  kernelPath: "img/vmlinux",
  initrdPath: null,
  kernelArgs: "",
  drives: [
    { id: "rootfs", path: path.join(dir, "root.ext4"), readOnly: true, isRoot: true },
    { id: "work", path: path.join(dir, "work.ext4"), readOnly: false, isRoot: false },
  ],
  net: null,
  cid: 3,
  vmDir,
  consoleLog: path.join(vmDir, "console.log"),
  vmmLog: path.join(vmDir, "firecracker.log"),
  memoryFile: "memory.raw",
  restore: { stateFile: "s/state", memoryFile: path.join(dir, "s/memory") },
});

test("absoluteSpec resolves every path (Firecracker's working directory is the VM directory)", () => {
  const a = absoluteSpec(spec(path.join(dir, "vm")));
  assert.equal(a.kernelPath, path.resolve("img/vmlinux"));
  assert.equal(a.memoryFile, path.resolve("memory.raw"));
  assert.deepEqual(a.restore, { stateFile: path.resolve("s/state"), memoryFile: path.join(dir, "s/memory") });
  assert.equal(a.initrdPath, null);
  assert.equal(absoluteSpec({ ...a, restore: undefined }).restore, undefined);
});

test("directSpec gives Firecracker each drive as fc-drives/<id>, relative", () => {
  const d = directSpec(spec("/vms/x"));
  assert.deepEqual(
    d.drives.map((x) => x.path),
    ["fc-drives/rootfs", "fc-drives/work"],
  );
  assert.equal(d.memoryFile, "memory.raw", "nothing else changes");
});

test("linkDrives makes one link per valid id, afresh; unlinkDrives removes only the links", async () => {
  const vmDir = path.join(dir, "vm2");
  mkdirSync(vmDir);
  writeFileSync(path.join(dir, "work.ext4"), "data");
  const s = spec(vmDir);
  s.drives.push({ id: "../escape", path: path.join(dir, "work.ext4"), readOnly: false, isRoot: false });
  mkdirSync(path.join(vmDir, DIRECT_DRIVE_DIR));
  writeFileSync(path.join(vmDir, DIRECT_DRIVE_DIR, "stale"), "");
  await linkDrives(s);
  const links = path.join(vmDir, DIRECT_DRIVE_DIR);
  assert.deepEqual(
    readdirSync(links).sort(),
    ["rootfs", "work"],
    "no stale entry, no link for an invalid id",
  );
  assert.equal(readlinkSync(path.join(links, "work")), path.join(dir, "work.ext4"));
  assert.ok(lstatSync(path.join(links, "work")).isSymbolicLink());
  await unlinkDrives(vmDir);
  assert.equal(existsSync(links), false);
  assert.equal(existsSync(path.join(dir, "work.ext4")), true, "the drive itself is untouched");
  await unlinkDrives(vmDir); // again: fine
});
