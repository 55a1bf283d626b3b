/**
 * `image build --from` as a normal user, for real: a throwaway user (made
 * with a subordinate id range, removed afterwards) builds from the tiny test
 * guest with --copy and --script. The script is the attacker: it records what
 * it can see and do (its ids, its uid map, /dev, mknod of a block device,
 * /sys) into the image, and leaves files the checks read back with debugfs:
 * a setuid root binary, a file of another in-image user, a hard link.
 * Root only (it creates the user); the build itself runs as that user.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DEBUGFS_ENV } from "../../src/host/disk.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { BUILD_DEVICES } from "../../src/images/chroot.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { Ext4Inspector } from "../helpers/ext4Inspect.js";

const runner = new NodeCommandRunner();
/** The compiled tree (this file is dist/test/integration/*.js). */
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A user that exists for this test only, with its own subordinate ids. */
interface ThrowawayUser {
  name: string;
  uid: number;
  gid: number;
  remove(): Promise<void>;
}

async function createUser(): Promise<ThrowawayUser> {
  const name = `bgt-img-${randomBytes(3).toString("hex")}`;
  await runner.run([
    "useradd",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--user-group",
    name,
  ]);
  const remove = async () => {
    await runner.run(["userdel", name], { allowFailure: true });
  };
  try {
    // useradd gives normal users a range where login.defs says so; make sure there is one.
    const sub = await readFile("/etc/subuid", "utf8").catch(() => "");
    if (!sub.split("\n").some((l) => l.startsWith(`${name}:`))) {
      await runner.run(["usermod", "--add-subuids", "500000-565535", "--add-subgids", "500000-565535", name]);
    }
    const ids = (await runner.run(["id", "-u", name])).stdout.trim();
    const gid = (await runner.run(["id", "-g", name])).stdout.trim();
    return { name, uid: Number(ids), gid: Number(gid), remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

/** The child's program: ImageBuilder from dist, run as the user; prints the result as JSON. */
const CHILD = `
const [distDir, job] = process.argv.slice(2);
const { ImageBuilder } = await import(distDir + "/src/images/ImageBuilder.js");
const { NodeCommandRunner } = await import(distDir + "/src/host/node/NodeCommandRunner.js");
const j = JSON.parse(job);
try {
  const res = await new ImageBuilder({ runner: new NodeCommandRunner() }).build(j.params, j.from, {
    workDir: j.out, logFile: j.log, onProgress: () => {},
  });
  console.log(JSON.stringify({ ok: true, res, uid: process.getuid() }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, message: e.message, hint: e.hint }));
}
`;

/** The attacker: reports what the build step sees, tries what it must not do. */
const PROBE_SCRIPT = `set -e
id -u > /etc/probe-uid
cat /proc/self/uid_map > /etc/probe-uidmap
ls -1A /dev > /etc/probe-dev
if mknod /tmp/blk b 8 0 2>/dev/null; then echo mknod-ok; else echo mknod-denied; fi > /etc/probe-mknod
ls -1A /sys > /etc/probe-sys 2>/dev/null || true
cp /bin/busybox /usr/bin/suid-probe && chmod 4755 /usr/bin/suid-probe
echo owned-by-1234 > /etc/owned-file && chown 1234:2345 /etc/owned-file
echo linked > /etc/link-a && ln /etc/link-a /etc/link-b
echo note > /root/script-note
`;

/** debugfs stat: uid, gid, permission bits and link count. */
async function stat(
  image: string,
  p: string,
): Promise<{ uid: number; gid: number; perm: number; links: number }> {
  const r = await runner.run(["debugfs", "-R", `stat ${p}`, image], { env: { ...DEBUGFS_ENV } });
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? Number.NaN);
  return {
    uid: num(/User:\s+(\d+)/),
    gid: num(/Group:\s+(\d+)/),
    perm: Number.parseInt(/Mode:\s+(\d+)/.exec(r.stdout)?.[1] ?? "x", 8),
    links: num(/Links:\s+(\d+)/),
  };
}

describe("image build --from as a throwaway normal user (rootless)", {
  skip: process.getuid?.() === 0 ? false : "needs root to create the throwaway user",
}, () => {
  let guest: TestGuest;
  let user: ThrowawayUser;
  let dir: string;
  before(async () => {
    guest = await ensureTestGuest();
    user = await createUser();
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-rootless-"));
    await chmod(dir, 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await user?.remove();
    const left = await readFile("/etc/subuid", "utf8").catch(() => "");
    assert.ok(!left.includes(`${user?.name}:`), "the user's subordinate ids are gone");
  });

  it("builds without root; owners, setuid bits and links come out right; the step saw only the build devices", {
    timeout: 10 * 60_000,
  }, async (t) => {
    const home = path.join(dir, "home");
    await mkdir(home);
    await chown(home, user.uid, user.gid);
    const script = path.join(home, "probe.sh");
    const hello = path.join(home, "hello.txt");
    await writeFile(script, PROBE_SCRIPT);
    await writeFile(hello, "hello from the user\n");
    const child = path.join(home, "child.mjs");
    await writeFile(child, CHILD);
    for (const f of [script, hello, child]) await chown(f, user.uid, user.gid);
    const job = {
      params: { name: "rootless", from: "tiny", script, copy: [`${hello}:/opt/hello.txt`] },
      from: { rootfsPath: guest.rootfs, workSeedPath: guest.workSeed },
      out: path.join(home, "out"),
      log: path.join(home, "build.log"),
    };
    const t0 = performance.now();
    const r = await runner.run(
      [
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "--",
        "env",
        `HOME=${home}`,
        `USER=${user.name}`,
        process.execPath,
        child,
        dist,
        JSON.stringify(job),
      ],
      { cwd: home, allowFailure: true, timeoutMs: 9 * 60_000 },
    );
    t.diagnostic(
      `build as ${user.name} (uid ${user.uid}): ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      ok: boolean;
      uid?: number;
      message?: string;
      res?: { rootfs: string; workSeed: string };
    };
    assert.ok(out.ok, `${out.message ?? r.stderr}\n${await readFile(job.log, "utf8").catch(() => "")}`);
    assert.equal(out.uid, user.uid, "the build ran as the user");
    const rootfs = out.res!.rootfs;
    const fs = new Ext4Inspector(rootfs, runner);

    // What the build step saw, from its own side.
    assert.equal(await fs.cat("/etc/probe-uid"), "0\n", "root inside the namespace");
    const map = (await fs.cat("/etc/probe-uidmap"))!
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(map[0], [0, user.uid, 1], "namespace root is the user, not host root");
    assert.ok(
      map.every(([, outer]) => outer !== 0),
      "no id maps to host root",
    );
    const devs = (await fs.cat("/etc/probe-dev"))!.trim().split("\n").sort();
    assert.deepEqual(devs, [...BUILD_DEVICES, "fd", "pts", "shm", "stderr", "stdin", "stdout"].sort());
    assert.equal(await fs.cat("/etc/probe-mknod"), "mknod-denied\n");
    assert.equal(await fs.cat("/etc/probe-sys"), "", "no /sys in the build");

    // Ownership, setuid bits and hard links, read back with debugfs.
    assert.deepEqual(await stat(rootfs, "/usr/bin/suid-probe").then((s) => [s.uid, s.perm]), [0, 0o4755]);
    assert.deepEqual(await stat(rootfs, "/etc/owned-file").then((s) => [s.uid, s.gid]), [1234, 2345]);
    assert.deepEqual(await stat(rootfs, "/opt/hello.txt").then((s) => [s.uid, s.gid]), [0, 0]);
    assert.equal(await fs.cat("/opt/hello.txt"), "hello from the user\n");
    assert.equal((await stat(rootfs, "/etc/link-a")).links, 2, "the hard link survived");
    const seed = new Ext4Inspector(out.res!.workSeed, runner);
    assert.equal(await seed.cat("/script-note"), "note\n");
    assert.equal((await seed.stat("/"))?.perm, 0o700);

    // A second build from the first: an unpacked image keeps what the first one made.
    const again = {
      ...job,
      params: { name: "again", from: "rootless" },
      from: { rootfsPath: out.res!.rootfs, workSeedPath: out.res!.workSeed },
      out: path.join(home, "out2"),
    };
    const r2 = await runner.run(
      [
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "--",
        process.execPath,
        child,
        dist,
        JSON.stringify(again),
      ],
      { cwd: home, allowFailure: true, timeoutMs: 5 * 60_000 },
    );
    const out2 = JSON.parse(r2.stdout.trim().split("\n").at(-1) ?? "{}") as {
      ok: boolean;
      message?: string;
      res?: { rootfs: string };
    };
    assert.ok(out2.ok, out2.message ?? r2.stderr);
    const rootfs2 = out2.res!.rootfs;
    assert.deepEqual(await stat(rootfs2, "/usr/bin/suid-probe").then((s) => [s.uid, s.perm]), [0, 0o4755]);
    assert.deepEqual(await stat(rootfs2, "/etc/owned-file").then((s) => [s.uid, s.gid]), [1234, 2345]);
    assert.equal((await stat(rootfs2, "/etc/link-a")).links, 2);
    const leftovers = (await runner.run(["find", home, "-maxdepth", "2", "-name", ".build-*"])).stdout.trim();
    assert.equal(leftovers, "", "no scratch tree left");
  });
});
