/**
 * ImageBuilder for real, run by root: the build is handed to the unprivileged
 * banger-vmm (scripts/deps.sh ensure_vmm_user) and runs in its user
 * namespace. Builds from the tiny test guest's rootfs (busybox sh) with
 * --copy and --script (no --install: no network needed), checks the result
 * with debugfs, that the script ran as banger-vmm's namespace root and never
 * as host root, and that no mount, loop device or scratch tree is left, also
 * when the script fails.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ProgressEvent } from "../../src/api/protocol.js";
import { isBangerError } from "../../src/errors/index.js";
import { VMM_SYSTEM_USER } from "../../src/helper/protocol.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ImageBuilder } from "../../src/images/ImageBuilder.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { Ext4Inspector } from "../helpers/ext4Inspect.js";

const isRoot = process.getuid?.() === 0;
const runner = new NodeCommandRunner();

/** Mounts and loop devices that mention `dir`, and banger-vmm's scratch trees in /var/tmp. */
async function leftovers(dir: string): Promise<string[]> {
  const mounts = await runner.run(["findmnt", "-rn", "-o", "TARGET,SOURCE"], { allowFailure: true });
  const loops = await runner.run(["losetup", "-a"], { allowFailure: true });
  const scratch = (await readdir("/var/tmp"))
    .filter((n) => n.startsWith(".build-"))
    .map((n) => `/var/tmp/${n}`);
  return [...mounts.stdout.split("\n"), ...loops.stdout.split("\n")]
    .filter((l) => l.includes(dir))
    .concat(scratch);
}

describe("ImageBuilder run by root (builds as banger-vmm)", {
  skip: isRoot ? false : "needs root (the build is handed to banger-vmm)",
}, () => {
  let guest: TestGuest;
  let dir: string;
  before(async () => {
    guest = await ensureTestGuest();
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-imgbuild-"));
  });
  after(async () => {
    assert.deepEqual(await leftovers(dir), []);
    await rm(dir, { recursive: true, force: true });
  });
  const from = () => ({ rootfsPath: guest.rootfs, workSeedPath: guest.workSeed });

  it("copies files, runs the script in the image, rebuilds the work seed; nothing left mounted", async (t) => {
    const input = path.join(dir, "in");
    await mkdir(path.join(input, "tree", "sub"), { recursive: true });
    await writeFile(path.join(input, "hello.txt"), "hello from the host\n");
    await writeFile(path.join(input, "tree", "a.txt"), "a\n");
    await writeFile(path.join(input, "tree", "sub", "b.txt"), "b\n");
    // The image gets an absolute symlink to a directory that exists on the host AND in the image.
    const escapeDir = path.join(dir, "escape-target");
    await mkdir(escapeDir);
    const script = path.join(input, "setup.sh");
    await writeFile(
      script,
      [
        "set -e",
        "echo built-by-script > /etc/script-was-here",
        "cat /proc/self/uid_map > /etc/probe-uidmap",
        "mkdir -p /opt/made && cat /opt/app/hello.txt > /opt/made/copy-of-hello",
        'echo "note from the script" > /root/script-note',
        `mkdir -p ${escapeDir} && ln -s ${escapeDir} /opt/escape`,
        "",
      ].join("\n"),
    );
    const events: ProgressEvent[] = [];
    const logFile = path.join(dir, "build.log");
    const out = path.join(dir, "out");
    const res = await new ImageBuilder({ runner }).build(
      {
        name: "tiny-plus",
        from: "tiny",
        copy: [
          `${path.join(input, "hello.txt")}:/opt/app/hello.txt`,
          `${path.join(input, "tree")}:/opt/tree`,
        ],
        script,
      },
      from(),
      { workDir: out, onProgress: (e) => events.push(e), logFile },
    );
    t.diagnostic(
      events
        .filter((e) => e.phase === "done")
        .map((e) => e.message)
        .join("; "),
    );
    const fs = new Ext4Inspector(res.rootfs, runner);
    assert.equal(await fs.cat("/opt/app/hello.txt"), "hello from the host\n");
    assert.equal((await fs.stat("/opt/app/hello.txt"))?.uid, 0);
    assert.equal(await fs.cat("/opt/tree/sub/b.txt"), "b\n");
    assert.equal(await fs.cat("/etc/script-was-here"), "built-by-script\n");
    assert.equal(await fs.cat("/opt/made/copy-of-hello"), "hello from the host\n");
    assert.deepEqual(await fs.ls("/root"), [], "the script's /root went to the work seed");
    assert.ok(!(await fs.ls("/"))!.some((e) => e.name.startsWith(".banger-build")), "no staging dir left");
    assert.ok(
      (await stat(res.rootfs)).size >= (await stat(guest.rootfs)).size,
      "never smaller than its source",
    );
    assert.equal((await stat(res.rootfs)).uid, 0, "root's output is root's");
    const vmm = (await runner.run(["id", "-u", VMM_SYSTEM_USER])).stdout.trim();
    const map = (await fs.cat("/etc/probe-uidmap"))!.trim().split("\n")[0]!.trim().split(/\s+/);
    assert.deepEqual(map, ["0", vmm, "1"], "the script ran as banger-vmm, root only in its namespace");
    const seed = new Ext4Inspector(res.workSeed, runner);
    assert.equal(await seed.cat("/script-note"), "note from the script\n");
    assert.equal((await seed.stat("/"))?.perm, 0o700);
    assert.equal((await seed.stat("/.ssh"))?.perm, 0o700);
    assert.equal(await seed.ls("/lost+found").then((l) => l?.length ?? 0), 0);
    const log = await readFile(logFile, "utf8");
    assert.match(log, /as banger-vmm/);
    assert.match(log, /\$ setpriv --reuid=\d+ .* unshare --user --map-auto --map-root-user /);
    assert.doesNotMatch(log, /\$ (mount|losetup) /, "nothing mounted on the host");
    assert.deepEqual(await leftovers(dir), []);

    // A copy through an absolute symlink in the image lands in the image, never on the host.
    const again = await new ImageBuilder({ runner }).build(
      {
        name: "tiny-plus-2",
        from: "tiny-plus",
        copy: [`${path.join(input, "hello.txt")}:/opt/escape/x.txt`],
      },
      { rootfsPath: res.rootfs, workSeedPath: res.workSeed },
      { workDir: path.join(dir, "out2"), onProgress: () => {}, logFile },
    );
    assert.ok(!existsSync(path.join(escapeDir, "x.txt")), "the host's directory was not written");
    assert.equal(
      await new Ext4Inspector(again.rootfs, runner).cat(`${escapeDir}/x.txt`),
      "hello from the host\n",
    );
    assert.deepEqual(await leftovers(dir), []);
  });

  it("a failing script: the error names the stage and the log; no output, mount or loop device left", async () => {
    const script = path.join(dir, "fail.sh");
    await writeFile(script, "echo about to fail\nexit 3\n");
    const out = path.join(dir, "out-fail");
    const logFile = path.join(dir, "fail.log");
    await assert.rejects(
      new ImageBuilder({ runner }).build({ name: "broken", from: "tiny", script }, from(), {
        workDir: out,
        onProgress: () => {},
        logFile,
      }),
      (e: unknown) => {
        assert.ok(isBangerError(e));
        assert.match(
          e.message,
          /^image build failed at stage "run-script": chroot .* \(as banger-vmm, in the build namespace\) exited with code 3/,
        );
        assert.match(e.hint ?? "", new RegExp(`the build log is ${logFile}`));
        return true;
      },
    );
    assert.match(await readFile(logFile, "utf8"), /about to fail/);
    assert.ok(!existsSync(path.join(out, "rootfs.ext4")) && !existsSync(path.join(out, "work-seed.ext4")));
    assert.deepEqual(await leftovers(dir), []);
  });
});
