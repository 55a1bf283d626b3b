/**
 * The "void" recipe against a small fake Void-like rootfs tarball served over
 * HTTP on 127.0.0.1 (this machine cannot reach Void's servers), pinned by the
 * test's own sha256 in the catalog entry (the recipe's default URL has its own
 * pin): download with sha256 check, extraction in the build namespace (root
 * hands it to banger-vmm), the customizations, rootfs and work seed checked
 * with debugfs (owners and setuid bits kept), the cache reused. Run as root.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ProgressEvent } from "../../src/api/protocol.js";
import { isBangerError } from "../../src/errors/index.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { AgentProvider } from "../../src/images/recipes/agent.js";
import { LocalRecipeRunner } from "../../src/images/recipes/RecipeRunner.js";
import { Ext4Inspector } from "../helpers/ext4Inspect.js";

const runner = new NodeCommandRunner();
const TARBALL = "/live/20250202/void-x86_64-ROOTFS-20250202.tar.xz";

const FILES: Array<[string, string, number]> = [
  ["etc/sv/sshd/run", "#!/bin/sh\nssh-keygen -A >/dev/null 2>&1\nexec /usr/bin/sshd -D\n", 0o755],
  ["etc/sv/agetty-tty1/run", "#!/bin/sh\nexec agetty tty1\n", 0o755],
  ["etc/sv/agetty-ttyS0/run", "#!/bin/sh\nexec agetty ttyS0\n", 0o755],
  ["etc/sv/dhcpcd/run", "#!/bin/sh\nexec dhcpcd -B\n", 0o755],
  ["etc/sv/udevd/run", "#!/bin/sh\nexec udevd\n", 0o755],
  [
    "etc/ssh/sshd_config",
    "#PermitRootLogin prohibit-password\nSubsystem sftp /usr/libexec/sftp-server\n",
    0o644,
  ],
  ["etc/ssh/ssh_host_ed25519_key", "not a real key\n", 0o600],
  ["etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA fake\n", 0o644],
  ["etc/shadow", "root:$6$fakesalt$fakehash:19000:0:99999:7:::\nnobody:!:19000::::::\n", 0o600],
  ["etc/hostname", "voidlinux\n", 0o644],
  ["etc/hosts", "127.0.0.1 localhost localhost.localdomain\n", 0o644],
  ["usr/bin/ssh-keygen", "#!/bin/sh\nexit 0\n", 0o755],
  ["sbin/runit-init", "#!/bin/sh\nexit 0\n", 0o755],
  ["root/.bashrc", "# void root bashrc\n", 0o644],
];

/** A Void-like tree (as tar.xz) whose /etc/resolv.conf is an absolute symlink to `hostFile`. */
async function fakeVoidTarball(dir: string, hostFile: string): Promise<Buffer> {
  const tree = path.join(dir, "tree");
  for (const [rel, text, mode] of FILES) {
    await mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
    await writeFile(path.join(tree, rel), text, { mode });
    await chmod(path.join(tree, rel), mode);
  }
  const sv = path.join(tree, "etc/runit/runsvdir/default");
  await mkdir(sv, { recursive: true });
  for (const s of ["agetty-tty1", "dhcpcd", "udevd"]) await symlink(`/etc/sv/${s}`, path.join(sv, s));
  await symlink("runit-init", path.join(tree, "sbin/init"));
  await symlink(hostFile, path.join(tree, "etc/resolv.conf"));
  await chmod(path.join(tree, "root"), 0o700);
  // Owners and modes the build namespace must keep: a setuid binary, files of a package user.
  await chmod(path.join(tree, "usr/bin/ssh-keygen"), 0o4755);
  await mkdir(path.join(tree, "var/empty-of-user"), { recursive: true });
  await chown(path.join(tree, "var/empty-of-user"), 100, 101);
  const out = path.join(dir, "void.tar.xz");
  await runner.run(["tar", "-cJf", out, "--numeric-owner", "-C", tree, "."]);
  return readFile(out);
}

const fakeAgent: AgentProvider = {
  sourceKey: async () => "fake agent v1",
  build: async (outDir) => {
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, "banger-agent"), "#!/bin/sh\necho fake agent\n", { mode: 0o755 });
    return path.join(outDir, "banger-agent");
  },
};

describe("void recipe", { skip: process.getuid?.() === 0 ? false : "needs root" }, () => {
  let dir: string;
  let server: http.Server;
  let url: string;
  let sha256: string;
  let hostResolv: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-void-"));
    hostResolv = path.join(dir, "host-resolv.conf");
    await writeFile(hostResolv, "nameserver 192.0.2.53\n");
    const body = await fakeVoidTarball(dir, hostResolv);
    sha256 = createHash("sha256").update(body).digest("hex");
    server = http.createServer((req, res) => {
      if (req.url !== TARBALL) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${TARBALL}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  const run = (entry: unknown, events: ProgressEvent[] = []) =>
    new LocalRecipeRunner({ runner, cacheDir: path.join(dir, "cache"), agent: fakeAgent }).run("void", {
      workDir: path.join(dir, "work"),
      onProgress: (e) => events.push(e),
      catalogEntry: entry,
    });

  it("downloads, checks, customizes; rootfs and work seed hold what banger needs", async () => {
    const res = await run({ name: "void", version: "rolling-recipe", source: { url, sha256 } });
    assert.equal(res.version, "20250202");
    assert.deepEqual(Object.keys(res.files).sort(), ["rootfs", "workSeed"]);
    const fs = new Ext4Inspector(res.files.rootfs!, runner);
    assert.equal((await fs.stat("/usr/sbin/banger-agent"))?.perm, 0o755);
    assert.equal((await fs.stat("/usr/sbin/banger-agent"))?.uid, 0);
    assert.deepEqual(await fs.stat("/usr/bin/ssh-keygen").then((s) => [s?.uid, s?.perm]), [0, 0o4755]);
    assert.equal((await fs.stat("/var/empty-of-user"))?.uid, 100, "a package user's file keeps its owner");
    assert.match((await fs.cat("/etc/sv/banger-agent/run")) ?? "", /exec \/usr\/sbin\/banger-agent/);
    assert.equal((await fs.stat("/etc/sv/banger-agent/run"))?.perm, 0o755);
    const links = await fs.ls("/etc/runit/runsvdir/default");
    assert.deepEqual(links!.map((e) => e.name).sort(), ["agetty-ttyS0", "banger-agent", "sshd", "udevd"]);
    assert.equal((await fs.stat("/etc/runit/runsvdir/default/sshd"))?.link, "/etc/sv/sshd");
    const ssh = (await fs.ls("/etc/ssh"))!.map((e) => e.name);
    assert.deepEqual(
      ssh.filter((n) => n.startsWith("ssh_host_")),
      [],
    );
    assert.match(
      (await fs.cat("/etc/ssh/sshd_config")) ?? "",
      /^# banger.*\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n/,
    );
    assert.match((await fs.cat("/etc/shadow")) ?? "", /^root:\*:19000:/);
    assert.equal((await fs.stat("/etc/shadow"))?.perm, 0o600);
    assert.doesNotMatch((await fs.cat("/etc/resolv.conf")) ?? "", /nameserver/);
    assert.equal((await fs.stat("/etc/resolv.conf"))?.type, "regular");
    assert.equal(
      await readFile(hostResolv, "utf8"),
      "nameserver 192.0.2.53\n",
      "the host's file is untouched",
    );
    assert.ok(await fs.cat("/etc/runit/core-services/90-banger-hosts.sh"));
    assert.deepEqual(await fs.ls("/root"), []);
    assert.equal((await fs.stat("/root"))?.perm, 0o700);
    const seed = new Ext4Inspector(res.files.workSeed!, runner);
    assert.equal(await seed.cat("/.bashrc"), "# void root bashrc\n");
    assert.equal((await seed.stat("/.ssh"))?.perm, 0o700);
    assert.equal((await seed.stat("/"))?.perm, 0o700);

    const events: ProgressEvent[] = [];
    const again = await run({ source: { url, sha256 } }, events);
    assert.deepEqual(again.files, res.files);
    assert.ok(events.some((e) => e.stage === "recipe:cache" && /reusing/.test(e.message)));
    assert.ok(!events.some((e) => e.stage === "recipe:download"), "no second download");
  });

  it("a sha256 mismatch fails the build and caches nothing", async () => {
    const before = (await readdir(path.join(dir, "cache"))).sort();
    await assert.rejects(run({ source: { url, sha256: "0".repeat(64) } }), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /sha256 mismatch/);
      return true;
    });
    assert.deepEqual((await readdir(path.join(dir, "cache"))).sort(), before);
    assert.ok(!existsSync(path.join(dir, "work", "rootfs.tar")));
  });
});
