/**
 * The golden image for real: the debian-bookworm image and the debian kernel
 * built through LocalRecipeRunner, rootless: run by root, the builds are
 * banger-vmm's (mmdebstrap --mode=unshare, mkfs.ext4 -d in its user
 * namespace). Cached under /var/cache/banger-test by recipe hash, and the
 * hash covers the rootless build code, so the rootless path runs at least
 * once per recipe change; a warm run only checks and boots. The files are
 * checked with debugfs (owners, setuid bits, package users), then a VM is
 * booted from them with the QEMU driver (TCG) inside a network namespace this
 * test creates and deletes, reached over SSH with a key written into its work
 * disk. Builds run in the host network namespace (the mirror is not reachable
 * from a test namespace) and create no network devices. Root for the boot
 * (netns, TAP); the throwaway-user build is image-build-rootless.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { ProgressEvent } from "../../src/api/protocol.js";
import { DEBUGFS_ENV } from "../../src/host/disk.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { LocalRecipeRunner, type RecipeResult } from "../../src/images/recipes/RecipeRunner.js";
import { ext4Problem, readExt4Superblock } from "../../src/services/disks/ext4.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";
import { defaultCacheDir } from "../guest/testGuest.js";
import { Ext4Inspector } from "../helpers/ext4Inspect.js";
import { bootGolden, type GoldenBoot } from "../helpers/goldenBoot.js";

const isRoot = process.getuid?.() === 0;
const missing = async (bins: string[]) => {
  for (const b of bins) if ((await findExecutable(b)) === null) return b;
  return null;
};
const absent = await missing([
  "mmdebstrap",
  "newuidmap",
  "qemu-system-x86_64",
  "ip",
  "ssh",
  "ssh-keygen",
  "gcc",
  "debugfs",
]);
const skip = !isRoot
  ? "needs root (network namespace, TAP for the boot)"
  : absent
    ? `${absent} not found (scripts/deps.sh; apt-get install mmdebstrap qemu-system-x86 openssh-client gcc)`
    : false;

function progressTo(t: TestContext): (e: ProgressEvent) => void {
  return (e) => {
    if (e.phase !== "info" || !/download/.test(e.stage)) t.diagnostic(`${e.stage} ${e.phase}: ${e.message}`);
  };
}

describe("golden image: debian-bookworm + debian kernel", { skip }, () => {
  const runner = new NodeCommandRunner();
  let work: string;
  let image: RecipeResult | undefined;
  let kernel: RecipeResult | undefined;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "banger-golden-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("builds (or reuses) both through LocalRecipeRunner; the files are what banger needs", {
    timeout: 20 * 60_000,
  }, async (t) => {
    const recipes = new LocalRecipeRunner({ runner, cacheDir: defaultCacheDir() });
    const t0 = performance.now();
    kernel = await recipes.run("debian-kernel", {
      workDir: work,
      onProgress: progressTo(t),
      catalogEntry: {},
    });
    const t1 = performance.now();
    image = await recipes.run("debian-bookworm", {
      workDir: work,
      onProgress: progressTo(t),
      catalogEntry: {},
    });
    const t2 = performance.now();
    t.diagnostic(
      `kernel ${kernel.version} in ${((t1 - t0) / 1000).toFixed(1)} s; image ${image.version} in ${((t2 - t1) / 1000).toFixed(1)} s`,
    );
    assert.match(kernel.version, /^\d+\.\d+\.\d+-\d+-amd64$/);
    assert.match(image.version, /^12-\d{8}$/);
    assert.deepEqual(Object.keys(kernel.files).sort(), ["initrd", "vmlinux"]);
    assert.deepEqual(Object.keys(image.files).sort(), ["rootfs", "workSeed"]);
    for (const f of [image.files.rootfs!, image.files.workSeed!]) assert.equal(await ext4Problem(f), null);
    const sb = await readExt4Superblock(image.files.rootfs!);
    assert.ok(typeof sb !== "string" && sb.blockSize === 4096 && sb.label === "bangerroot");
    if (typeof sb !== "string")
      t.diagnostic(`rootfs ${sb.sizeBytes >> 20} MiB, ${sb.usedBytes >> 20} MiB used`);
    await checkRootfs(new Ext4Inspector(image.files.rootfs!, runner));
    await checkOwners(image.files.rootfs!);
    await checkWorkSeed(new Ext4Inspector(image.files.workSeed!, runner));
  });

  it("boots under QEMU (TCG) in a private netns: SSH with a key, agent and sshd active; takes a fork's identity", {
    timeout: 5 * 60_000,
  }, async (t) => {
    if (!image || !kernel) return t.skip("the build failed");
    const boot: GoldenBoot = await bootGolden({ t, work, image: image.files, kernel: kernel.files, runner });
    t.diagnostic(`boot to SSH: ${(boot.bootToSshMs / 1000).toFixed(1)} s`);
    assert.deepEqual(boot.active, ["active", "active"]);
    assert.equal(boot.hostname, "golden");
    assert.match(boot.hosts, /^127\.0\.1\.1\s+golden$/m);
    const idn = boot.identity;
    assert.equal(idn.servedKey, idn.wantedKey, "sshd serves the pinned key at the new address");
    assert.equal(idn.hostname, "golden-fork");
    assert.equal(idn.machineId, idn.wantedMachineId);
    assert.equal(idn.sshActive, "active", "the reloaded sshd is still the ssh.service systemd knows");
    assert.equal(boot.leftovers.length, 0, `left behind: ${boot.leftovers.join(", ")}`);
  });
});

async function checkRootfs(fs: Ext4Inspector): Promise<void> {
  const agent = await fs.stat("/usr/sbin/banger-agent");
  assert.equal(agent?.type, "regular");
  assert.equal(agent?.perm, 0o755);
  const sshDir = (await fs.ls("/etc/ssh"))!.map((e) => e.name);
  assert.deepEqual(
    sshDir.filter((n) => n.startsWith("ssh_host_")),
    [],
    "the image holds no SSH host keys",
  );
  const sshd = (await fs.cat("/etc/ssh/sshd_config.d/banger.conf")) ?? "";
  assert.match(sshd, /^PermitRootLogin prohibit-password$/m);
  assert.match(sshd, /^PasswordAuthentication no$/m);
  const unit = (await fs.cat("/etc/systemd/system/banger-agent.service")) ?? "";
  assert.match(unit, /^DefaultDependencies=no$/m);
  assert.match(unit, /^Restart=always$/m);
  const wants = await fs.stat("/etc/systemd/system/sysinit.target.wants/banger-agent.service");
  assert.equal(wants?.link, "/etc/systemd/system/banger-agent.service");
  const hostkeys = await fs.stat("/etc/systemd/system/ssh.service.wants/banger-hostkeys.service");
  assert.equal(hostkeys?.type, "symlink");
  assert.equal((await fs.stat("/etc/systemd/system/apt-daily.timer"))?.link, "/dev/null");
  assert.equal((await fs.stat("/etc/systemd/system/getty@tty1.service"))?.link, "/dev/null");
  assert.equal(await fs.cat("/etc/machine-id"), "");
  assert.doesNotMatch((await fs.cat("/etc/resolv.conf")) ?? "", /nameserver/);
  const root = await fs.stat("/root");
  assert.equal(root?.perm, 0o700);
  assert.deepEqual(
    (await fs.ls("/root"))!.map((e) => e.name),
    [],
    "/root is an empty mount point",
  );
  const rootfsSh = await fs.stat("/usr/sbin/sshd");
  assert.equal(rootfsSh?.type, "regular");
}

async function checkWorkSeed(fs: Ext4Inspector): Promise<void> {
  assert.equal((await fs.stat("/"))?.perm, 0o700);
  const names = (await fs.ls("/"))!.map((e) => e.name).sort();
  for (const n of [".bashrc", ".profile", ".ssh"]) assert.ok(names.includes(n), `work seed has ${n}`);
  const ssh = await fs.stat("/.ssh");
  assert.equal(ssh?.type, "directory");
  assert.equal(ssh?.perm, 0o700);
  assert.equal(ssh?.uid, 0);
  assert.match((await fs.cat("/.profile")) ?? "", /bashrc/);
}

/** uid, gid and permission bits of a path in an image (debugfs stat). */
async function owner(image: string, p: string): Promise<[number, number, number]> {
  const r = await new NodeCommandRunner().run(["debugfs", "-R", `stat ${p}`, image], {
    env: { ...DEBUGFS_ENV },
  });
  const n = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? Number.NaN);
  return [
    n(/User:\s+(\d+)/),
    n(/Group:\s+(\d+)/),
    Number.parseInt(/Mode:\s+(\d+)/.exec(r.stdout)?.[1] ?? "x", 8),
  ];
}

/** Built without root, yet owners and setuid bits are Debian's: ids from the image's own passwd and group. */
async function checkOwners(image: string): Promise<void> {
  const fs = new Ext4Inspector(image);
  const idOf = (text: string | null, name: string) =>
    Number(
      (text ?? "")
        .split("\n")
        .find((l) => l.startsWith(`${name}:`))
        ?.split(":")[2] ?? Number.NaN,
    );
  const shadowGid = idOf(await fs.cat("/etc/group"), "shadow");
  const aptUid = idOf(await fs.cat("/etc/passwd"), "_apt");
  assert.ok(shadowGid > 0 && aptUid > 0, "the image has a shadow group and an _apt user");
  assert.deepEqual(await owner(image, "/usr/bin/passwd"), [0, 0, 0o4755]);
  assert.deepEqual(await owner(image, "/usr/bin/su"), [0, 0, 0o4755]);
  assert.deepEqual(await owner(image, "/etc/shadow"), [0, shadowGid, 0o640]);
  assert.deepEqual(await owner(image, "/usr/bin/chage"), [0, shadowGid, 0o2755]);
  assert.deepEqual(await owner(image, "/var/cache/apt/archives/partial"), [aptUid, 0, 0o700]);
  assert.deepEqual(await owner(image, "/usr/sbin/banger-agent"), [0, 0, 0o755]);
}
