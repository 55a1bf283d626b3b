import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ProgressEvent } from "../api/protocol.js";
import { isBangerError } from "../errors/index.js";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { ImageBuilder } from "./ImageBuilder.js";
import { mountsUnder } from "./mounts.js";

let dir: string;
let src: { rootfsPath: string; workSeedPath: string };
let script: string;
let hostFile: string;
let resolv: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-imgbuilder-"));
  src = { rootfsPath: path.join(dir, "src-rootfs.ext4"), workSeedPath: path.join(dir, "src-seed.ext4") };
  writeFileSync(src.rootfsPath, Buffer.alloc(8192));
  writeFileSync(src.workSeedPath, Buffer.alloc(4096));
  script = path.join(dir, "setup.sh");
  writeFileSync(script, "echo hi\n");
  hostFile = path.join(dir, "app.conf");
  writeFileSync(hostFile, "x=1\n");
  resolv = path.join(dir, "host-resolv.conf");
  writeFileSync(resolv, "nameserver 192.0.2.53\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const isChroot = (argv: readonly string[], cmd: string) => argv[0] === "env" && argv.includes(cmd);

/** A fake host: cp creates files, the first loop mount fills the mount point like a Debian image. */
function fakeHost(seen: Record<string, unknown> = {}, prepare?: (mnt: string) => void): FakeCommandRunner {
  return new FakeCommandRunner()
    .on(["cp", "--sparse=always"], (argv) => {
      writeFileSync(argv[4]!, Buffer.alloc(4096));
      return {};
    })
    .on(["mount", "-o", "loop"], (argv) => {
      const mnt = argv[4]!;
      if (seen.mnt !== undefined) return {}; // the work seed at MNT/root
      seen.mnt = mnt;
      prepare?.(mnt);
      for (const d of ["usr/bin", "usr/sbin", "bin", "etc"])
        mkdirSync(path.join(mnt, d), { recursive: true });
      writeFileSync(path.join(mnt, "usr/bin/apt-get"), "");
      writeFileSync(path.join(mnt, "bin/sh"), "");
      symlinkSync("../run/systemd/resolve/stub-resolv.conf", path.join(mnt, "etc/resolv.conf"));
      return {};
    })
    .on(["cp", "-a", "--"], (argv) => {
      if (!argv[3]!.endsWith("/root/.")) return {};
      const mnt = seen.mnt as string; // after every change, before unmounting
      seen.resolvAfter = readlinkSync(path.join(mnt, "etc/resolv.conf"));
      seen.policyAfter = existsSync(path.join(mnt, "usr/sbin/policy-rc.d"));
      return {};
    })
    .on(["du"], { stdout: "8192\tx\n" })
    .on(["mkfs.ext4"], (argv) => {
      writeFileSync(argv[argv.length - 2]!, "ext4");
      return {};
    })
    .on(["env"], (argv) => {
      if (isChroot(argv, "install")) {
        const mnt = seen.mnt as string;
        seen.resolvDuringInstall = readFileSync(path.join(mnt, "etc/resolv.conf"), "utf8");
        seen.policyDuringInstall = existsSync(path.join(mnt, "usr/sbin/policy-rc.d"));
      }
      return undefined;
    });
}

/** The calls with temp paths shortened: MNT, OUT, SCRATCH. */
function shapes(calls: string[][], mnt: string): string[] {
  const scratch = path.dirname(mnt);
  return calls.map((c) =>
    c
      .filter((a) => !/^[A-Z_]+=/.test(a))
      .join(" ")
      .replaceAll(mnt, "MNT")
      .replaceAll(scratch, "SCRATCH")
      .replaceAll(dir, "DIR")
      .replace(/\.banger-build-[0-9a-f]+/, "BUILD"),
  );
}

describe("ImageBuilder (fake host)", () => {
  const params = {
    name: "dev",
    from: "debian",
    install: ["git"],
    script: "",
    copy: [] as string[],
  };

  it("runs the stages in order and always unmounts in reverse", async () => {
    const seen: Record<string, unknown> = {};
    const fake = fakeHost(seen);
    const events: ProgressEvent[] = [];
    const b = new ImageBuilder({ runner: fake, getuid: () => 0, hostResolvConf: resolv });
    const out = path.join(dir, "out");
    const res = await b.build({ ...params, script, copy: [`${hostFile}:/etc/app.conf`] }, src, {
      workDir: out,
      onProgress: (e) => events.push(e),
      logFile: path.join(dir, "build.log"),
    });
    assert.deepEqual(res, {
      rootfs: path.join(out, "rootfs.ext4"),
      workSeed: path.join(out, "work-seed.ext4"),
    });
    const mnt = seen.mnt as string;
    assert.deepEqual(shapes(fake.calls, mnt), [
      "cp --sparse=always -- DIR/src-rootfs.ext4 DIR/out/rootfs.ext4",
      "e2fsck -f -p DIR/out/rootfs.ext4",
      "truncate -s 1073745920 -- DIR/out/rootfs.ext4",
      "resize2fs -f DIR/out/rootfs.ext4",
      "cp --sparse=always -- DIR/src-seed.ext4 SCRATCH/work-seed.img",
      "e2fsck -f -p SCRATCH/work-seed.img",
      "truncate -s 1073745920 -- SCRATCH/work-seed.img",
      "resize2fs -f SCRATCH/work-seed.img",
      "mount -o loop DIR/out/rootfs.ext4 MNT",
      "mount -o loop SCRATCH/work-seed.img MNT/root",
      "mount --bind /proc MNT/proc",
      "mount --bind /sys MNT/sys",
      "mount --bind /dev MNT/dev",
      "mount --bind /dev/pts MNT/dev/pts",
      "cp -a -- DIR/app.conf MNT/BUILD/copy-0/app.conf",
      "chown -R 0:0 -- MNT/BUILD/copy-0/app.conf",
      "env -i chroot MNT mkdir -p /etc",
      "env -i chroot MNT cp -a /BUILD/copy-0/app.conf /etc/app.conf",
      "env -i chroot MNT apt-get update",
      "env -i chroot MNT apt-get install -y --no-install-recommends git",
      "env -i chroot MNT apt-get clean",
      "env -i chroot MNT /bin/sh /BUILD/setup.sh",
      "cp -a -- MNT/root/. SCRATCH/work-seed",
      "umount MNT/dev/pts",
      "umount MNT/dev",
      "umount MNT/sys",
      "umount MNT/proc",
      "umount MNT/root",
      "umount MNT",
      "losetup -n -O NAME -j SCRATCH/work-seed.img",
      "losetup -n -O NAME -j DIR/out/rootfs.ext4",
      "e2fsck -f -p DIR/out/rootfs.ext4",
      "du -s -x -B1 SCRATCH/work-seed",
      "mkfs.ext4 -F -q -b 4096 -L bangerwork -E root_owner=0:0 -d SCRATCH/work-seed DIR/out/work-seed.ext4 65536k",
      "debugfs -w -f - DIR/out/work-seed.ext4",
    ]);
    assert.equal(seen.resolvDuringInstall, "nameserver 192.0.2.53\n", "the host's resolver during apt-get");
    assert.equal(seen.policyDuringInstall, true, "services blocked during apt-get");
    assert.equal(
      seen.resolvAfter,
      "../run/systemd/resolve/stub-resolv.conf",
      "the image's resolv.conf is back",
    );
    assert.equal(seen.policyAfter, false);
    assert.deepEqual(readdirSync(out).sort(), ["rootfs.ext4", "work-seed.ext4"], "scratch removed");
    const done = events.filter((e) => e.phase === "done").map((e) => e.stage);
    assert.deepEqual(done, [
      "build:copy-rootfs",
      "build:copy-work-seed",
      "build:mount",
      "build:copy-files",
      "build:install-packages",
      "build:run-script",
      "build:save-work-seed",
      "build:check-rootfs",
      "build:work-seed",
    ]);
    assert.match(readFileSync(path.join(dir, "build.log"), "utf8"), /\$ mount -o loop /);
  });

  it("a failing script: unmounts everything in reverse, removes the outputs, names the stage and the log", async () => {
    const seen: Record<string, unknown> = {};
    const fake = fakeHost(seen).on(["env"], (argv) =>
      isChroot(argv, "/bin/sh") ? { code: 2, stderr: "setup.sh: line 1: nope: not found" } : undefined,
    );
    const b = new ImageBuilder({ runner: fake, getuid: () => 0, hostResolvConf: resolv });
    const out = path.join(dir, "out");
    const logFile = path.join(dir, "build.log");
    await assert.rejects(
      b.build({ name: "dev", from: "debian", script }, src, { workDir: out, onProgress: () => {}, logFile }),
      (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "COMMAND_FAILED");
        assert.match(e.message, /^image build failed at stage "run-script": .*nope: not found/);
        assert.equal(e.hint, `the build log is ${logFile}`);
        return true;
      },
    );
    const tail = shapes(fake.calls, seen.mnt as string).slice(-9);
    assert.deepEqual(tail, [
      "env -i chroot MNT /bin/sh /BUILD/setup.sh",
      "umount MNT/dev/pts",
      "umount MNT/dev",
      "umount MNT/sys",
      "umount MNT/proc",
      "umount MNT/root",
      "umount MNT",
      "losetup -n -O NAME -j SCRATCH/work-seed.img",
      "losetup -n -O NAME -j DIR/out/rootfs.ext4",
    ]);
    assert.deepEqual(readdirSync(out), [], "no half-built files, no scratch");
    assert.match(readFileSync(logFile, "utf8"), /! stage run-script failed/);
  });

  it("a mount that cannot be undone fails an otherwise good build at stage unmount", async () => {
    const fake = fakeHost().on(["umount"], { code: 32, stderr: "target is busy" });
    const b = new ImageBuilder({ runner: fake, getuid: () => 0 });
    const out = path.join(dir, "out");
    await assert.rejects(
      b.build({ name: "dev", from: "debian" }, src, {
        workDir: out,
        onProgress: () => {},
        logFile: path.join(dir, "l"),
      }),
      /stage "unmount": cannot unmount .*target is busy/,
    );
    assert.deepEqual(readdirSync(out), []);
  });

  it("needs root: PREFLIGHT_FAILED with a hint, before running anything", async () => {
    const fake = fakeHost();
    const b = new ImageBuilder({ runner: fake, getuid: () => 1000 });
    await assert.rejects(
      b.build({ name: "dev", from: "debian" }, src, {
        workDir: dir,
        onProgress: () => {},
        logFile: path.join(dir, "l"),
      }),
      (e: unknown) => isBangerError(e) && e.code === "PREFLIGHT_FAILED" && /root/.test(e.hint ?? ""),
    );
    assert.equal(fake.calls.length, 0);
  });

  it("refuses an image whose mount point is a symlink (it would mount over a host path)", async () => {
    const fake = fakeHost({}, (mnt) => symlinkSync("/proc", path.join(mnt, "proc")));
    const b = new ImageBuilder({ runner: fake, getuid: () => 0 });
    await assert.rejects(
      b.build({ name: "dev", from: "debian" }, src, {
        workDir: path.join(dir, "o"),
        onProgress: () => {},
        logFile: path.join(dir, "l"),
      }),
      /stage "mount": \/proc in the image is not a directory/,
    );
    assert.ok(!fake.calls.some((c) => c.includes("--bind")));
    assert.ok(lstatSync("/proc").isDirectory());
  });

  it("finds mounts below a dir in mountinfo (so scratch is never deleted through a mount)", async () => {
    const info = path.join(dir, "mountinfo");
    writeFileSync(
      info,
      [
        "22 1 254:0 / / rw - ext4 /dev/vda rw",
        "90 22 7:0 / /w/.build-x/mnt rw - ext4 /dev/loop0 rw",
        "91 90 0:5 / /w/.build-x/mnt/dev rw - devtmpfs udev rw",
        "92 22 0:5 / /w/.build-x\\040other rw - tmpfs t rw",
        "",
      ].join("\n"),
    );
    assert.deepEqual(await mountsUnder("/w/.build-x", info), ["/w/.build-x/mnt", "/w/.build-x/mnt/dev"]);
    assert.deepEqual(await mountsUnder("/w/.build-x other", info), ["/w/.build-x other"]);
    assert.deepEqual(await mountsUnder("/elsewhere", info), []);
  });
});
