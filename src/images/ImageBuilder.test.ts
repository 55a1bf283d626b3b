import assert from "node:assert/strict";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
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
import type { CommandRunner, RunOptions } from "../host/runner.js";
import { ENTER_SCRIPT } from "./chroot.js";
import { ImageBuilder } from "./ImageBuilder.js";
import { type BuildUser, UNSHARE_ARGV } from "./userns.js";

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

const me: BuildUser = { kind: "self", name: "tester", uid: 1000, gid: 1000 };
const listing = "debugfs: ls -p /\n/2/040755/0/0/.//\n/12/104755/0/0/su/10/\n/12/104755/0/0/su2/10/\n\n";

/**
 * A fake host. Namespace commands (UNSHARE_ARGV + argv) are recorded as "ns: argv"
 * and handled like the real tools would for the files the builder looks at.
 */
function fakeHost(seen: Record<string, unknown> = {}, prepare?: (tree: string) => void) {
  const fake = new FakeCommandRunner()
    .on(["debugfs", "-R"], (argv) => {
      const dest = argv[2]!.replace(/^rdump \/ /, "");
      if (argv[3] === src.rootfsPath) {
        seen.tree = dest;
        for (const d of ["usr/bin", "usr/sbin", "bin", "etc", "root", "dev", "proc"])
          mkdirSync(path.join(dest, d), { recursive: true });
        writeFileSync(path.join(dest, "usr/bin/apt-get"), "");
        writeFileSync(path.join(dest, "bin/sh"), "");
        symlinkSync("../run/systemd/resolve/stub-resolv.conf", path.join(dest, "etc/resolv.conf"));
        prepare?.(dest);
      } else writeFileSync(path.join(dest, ".bashrc"), "# bashrc\n");
      return {};
    })
    .on(["debugfs", "-f", "-"], { stdout: listing })
    .on(["mkdir"], (argv) => {
      mkdirSync(argv.at(-1)!, { recursive: true });
      return {};
    })
    .on(["rm", "-rf"], (argv) => {
      rmSync(argv.at(-1)!, { recursive: true, force: true });
      return {};
    })
    .on(["mv"], (argv) => {
      seen.resolvAfter = readlinkSync(path.join(seen.tree as string, "etc/resolv.conf"));
      seen.policyAfter = existsSync(path.join(seen.tree as string, "usr/sbin/policy-rc.d"));
      renameSync(argv[2]!, argv[3]!);
      return {};
    })
    .on(["cp", "-a", "--no-preserve=ownership"], (argv) => {
      cpSync(argv[4]!, argv[5]!);
      return {};
    })
    .on(["du"], { stdout: "8192\tx\n" })
    .on(["mkfs.ext4"], (argv) => {
      writeFileSync(argv[argv.length - 2]!, "ext4");
      return {};
    })
    .on(["sh", "-c", ENTER_SCRIPT], (argv) => {
      if (argv.includes("install")) {
        const tree = seen.tree as string;
        seen.resolvDuringInstall = readFileSync(path.join(tree, "etc/resolv.conf"), "utf8");
        seen.policyDuringInstall = existsSync(path.join(tree, "usr/sbin/policy-rc.d"));
      }
      return undefined;
    });
  const calls: string[] = [];
  const runner: CommandRunner = {
    run(argv: readonly string[], opts?: RunOptions) {
      const ns = UNSHARE_ARGV.every((a, i) => argv[i] === a);
      const inner = ns ? argv.slice(UNSHARE_ARGV.length) : argv;
      calls.push(`${ns ? "ns: " : ""}${inner.join(" ")}`);
      return fake.run(inner, opts);
    },
  };
  return { runner, calls, fake };
}

/** The calls with temp paths shortened: TREE, SCRATCH, DIR; the enter script and env vars elided. */
function shapes(calls: string[], tree: string): string[] {
  return calls.map((c) =>
    c
      .replace(ENTER_SCRIPT, "ENTER")
      .replace(/ [A-Z_]+=\S+/g, "")
      .replaceAll(tree, "TREE")
      .replaceAll(path.dirname(tree), "SCRATCH")
      .replaceAll(dir, "DIR")
      .replace(/\.banger-build-[0-9a-f]+/g, "BUILD"),
  );
}

const ctxIn = (out: string, events: ProgressEvent[] = []) => ({
  workDir: out,
  onProgress: (e: ProgressEvent) => events.push(e),
  logFile: path.join(dir, "build.log"),
});

describe("ImageBuilder (fake host)", () => {
  it("unpacks, changes and rebuilds everything inside the build namespace, in order", async () => {
    const seen: Record<string, unknown> = {};
    const { runner, calls } = fakeHost(seen);
    const events: ProgressEvent[] = [];
    const b = new ImageBuilder({ runner, buildUser: async () => me, hostResolvConf: resolv });
    const out = path.join(dir, "out");
    const res = await b.build(
      { name: "dev", from: "debian", install: ["git"], script, copy: [`${hostFile}:/etc/app.conf`] },
      src,
      ctxIn(out, events),
    );
    assert.deepEqual(res, {
      rootfs: path.join(out, "rootfs.ext4"),
      workSeed: path.join(out, "work-seed.ext4"),
    });
    const got = shapes(calls, seen.tree as string);
    assert.deepEqual(got.slice(0, 12), [
      "ns: mkdir -p -- TREE",
      "ns: debugfs -R rdump / TREE DIR/src-rootfs.ext4",
      "ns: rm -rf -- TREE/lost+found",
      "ns: debugfs -f - DIR/src-rootfs.ext4",
      "ns: ln -f -- TREE/su TREE/su2",
      "ns: chmod 4755 -- TREE/su",
      "ns: mkdir -p -- TREE/root",
      "ns: debugfs -R rdump / TREE/root DIR/src-seed.ext4",
      "ns: rm -rf -- TREE/root/lost+found",
      "ns: debugfs -f - DIR/src-seed.ext4",
      "ns: ln -f -- TREE/root/su TREE/root/su2",
      "ns: chmod 4755 -- TREE/root/su",
    ]);
    assert.deepEqual(got.slice(13, 21), [
      "cp -a --no-preserve=ownership -- DIR/app.conf TREE/BUILD/copy-0/app.conf",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE mkdir -p /etc",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE cp -a /BUILD/copy-0/app.conf /etc/app.conf",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE apt-get update",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE apt-get install -y --no-install-recommends git",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE apt-get clean",
      "ns: sh -c ENTER banger-enter TREE env -i chroot TREE /bin/sh /BUILD/setup.sh",
      "ns: mv -- TREE/root SCRATCH/work-seed",
    ]);
    assert.ok(got.includes("ns: mkdir -m 0700 -- TREE/root"));
    const mkfs = got.filter((c) => c.includes("mkfs.ext4"));
    assert.equal(mkfs.length, 2);
    assert.ok(
      mkfs.every((c) => c.startsWith("ns: ")),
      "mkfs runs in the namespace: owners are in-namespace ids",
    );
    assert.match(mkfs[0]!, /-L bangerroot .* -d TREE SCRATCH\/rootfs\.ext4 /);
    assert.equal(got.at(-1), "ns: rm -rf --one-file-system -- SCRATCH");
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
      "build:stage",
      "build:unpack",
      "build:prepare",
      "build:copy-files",
      "build:install-packages",
      "build:run-script",
      "build:save-work-seed",
      "build:mkfs-rootfs",
      "build:mkfs-work-seed",
    ]);
    assert.match(readFileSync(path.join(dir, "build.log"), "utf8"), /as tester/);
  });

  it("a failing script: removes the outputs and the scratch tree, names the stage and the log", async () => {
    const { runner, calls, fake } = fakeHost();
    fake.on(["sh", "-c", ENTER_SCRIPT], (argv) =>
      argv.includes("/bin/sh") ? { code: 2, stderr: "setup.sh: line 1: nope: not found" } : undefined,
    );
    const b = new ImageBuilder({ runner, buildUser: async () => me, hostResolvConf: resolv });
    const out = path.join(dir, "out");
    const logFile = path.join(dir, "build.log");
    await assert.rejects(b.build({ name: "dev", from: "debian", script }, src, ctxIn(out)), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "COMMAND_FAILED");
      assert.match(
        e.message,
        /^image build failed at stage "run-script": chroot \S+\/tree \/bin\/sh \/\.banger-build-[0-9a-f]+\/setup\.sh \(as tester, in the build namespace\) exited with code 2: setup\.sh: line 1: nope: not found$/,
      );
      assert.equal(e.hint, `the build log is ${logFile}`);
      return true;
    });
    assert.match(calls.at(-1)!, /^ns: rm -rf --one-file-system -- .*\/out\/\.build-/);
    assert.deepEqual(readdirSync(out), [], "no half-built files, no scratch");
    assert.match(readFileSync(logFile, "utf8"), /! stage run-script failed/);
  });

  it("a build user that cannot build: the preflight's error, before running anything", async () => {
    const { runner, calls } = fakeHost();
    const b = new ImageBuilder({
      runner,
      buildUser: async () => {
        throw Object.assign(new Error("rootless image builds need subordinate ids"), {
          code: "PREFLIGHT_FAILED",
        });
      },
    });
    await assert.rejects(b.build({ name: "dev", from: "debian" }, src, ctxIn(dir)), /subordinate ids/);
    assert.equal(calls.length, 0);
  });

  it("refuses an image whose /proc is a symlink (the chroot would mount over what it points at)", async () => {
    const { runner, calls } = fakeHost({}, (tree) => {
      rmSync(path.join(tree, "proc"), { recursive: true });
      symlinkSync("/proc", path.join(tree, "proc"));
    });
    const b = new ImageBuilder({ runner, buildUser: async () => me });
    await assert.rejects(
      b.build({ name: "dev", from: "debian", script }, src, ctxIn(path.join(dir, "o"))),
      /stage "prepare": \/proc in the image is not a directory/,
    );
    assert.ok(!calls.some((c) => c.includes(ENTER_SCRIPT)), "nothing ran in the image");
  });
});
