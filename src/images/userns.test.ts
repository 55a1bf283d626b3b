import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { NodeCommandRunner } from "../host/node/NodeCommandRunner.js";
import { enterArgv } from "./chroot.js";
import { listImage, parseLsSession, repairPlan } from "./ext4Tree.js";
import { freeSubidStart, subidRanges, subidStatus, usermodLine } from "./subids.js";
import { asBuildUserArgv, describeNsCommand, inNamespaceArgv, parsePasswd } from "./userns.js";

const alice = { name: "alice", uid: 1000 };

describe("subordinate ids", () => {
  it("finds a user's ranges by name or uid, ignoring junk", () => {
    const text = "bob:100000:65536\nalice:165536:65536\n1000:300000:10\nbad line\nalice:x:y\n";
    assert.deepEqual(subidRanges(text, alice), [
      { start: 165536, count: 65536 },
      { start: 300000, count: 10 },
    ]);
  });

  it("status: both files need a first range of 65536; the fix is one usermod line past every range", () => {
    const good = "alice:165536:65536\n";
    assert.deepEqual(subidStatus(alice, good, good), {
      ok: true,
      detail: "subuid 165536+65536, subgid 165536+65536",
    });
    const small = subidStatus(alice, "alice:165536:1000\n", null);
    assert.equal(small.ok, false);
    assert.match(
      small.detail,
      /range of alice has 1000 ids, fewer than 65536; no \/etc\/subgid range for alice/,
    );
    assert.equal(small.fix, usermodLine("alice", 196608));
    assert.equal(small.fix, "sudo usermod --add-subuids 196608-262143 --add-subgids 196608-262143 alice");
    assert.equal(freeSubidStart("", ""), 131072);
    assert.equal(freeSubidStart("banger-vmm:2000000000:65536\n"), 2000093184);
  });
});

describe("build user namespace argv", () => {
  const self = { kind: "self" as const, name: "alice", uid: 1000, gid: 1000 };
  const vmm = { kind: "vmm" as const, name: "banger-vmm", uid: 999, gid: 995 };

  it("a normal user enters the namespace directly; root drops to banger-vmm first", () => {
    assert.deepEqual(inNamespaceArgv(self, ["mkfs.ext4", "-d", "x"]).slice(0, 5), [
      "unshare",
      "--user",
      "--map-auto",
      "--map-root-user",
      "--mount",
    ]);
    const argv = inNamespaceArgv(vmm, ["true"]);
    assert.deepEqual(argv.slice(0, 5), ["setpriv", "--reuid=999", "--regid=995", "--init-groups", "--"]);
    assert.ok(argv.includes("HOME=/nonexistent") && argv.includes("USER=banger-vmm"));
    assert.ok(argv.indexOf("unshare") > argv.indexOf("setpriv") && argv.at(-1) === "true");
    assert.deepEqual(asBuildUserArgv(self, ["mmdebstrap"]), ["mmdebstrap"]);
  });

  it("reads getent's passwd line; names a chroot entry shortly in messages", () => {
    assert.deepEqual(parsePasswd("banger-vmm:x:999:995::/nonexistent:/usr/sbin/nologin\n", "banger-vmm"), {
      uid: 999,
      gid: 995,
    });
    assert.equal(parsePasswd("other:x:1:1::/:/bin/sh", "banger-vmm"), undefined);
    assert.equal(
      describeNsCommand(enterArgv("/s/tree", ["apt-get", "update"])),
      "chroot /s/tree apt-get update",
    );
    assert.equal(describeNsCommand(["mkfs.ext4", "-d", "a b"]), "mkfs.ext4 -d 'a b'");
  });
});

describe("unpacking an ext4 image with debugfs", () => {
  it("parses an ls session per directory, and plans the chmods and links rdump loses", () => {
    const session = [
      "debugfs 1.47.0 (5-Feb-2023)",
      "debugfs: ls -p /",
      "/2/040755/0/0/.//",
      "/2/040755/0/0/..//",
      "/12/040755/0/0/usr//",
      "/20/041777/0/0/tmp//",
      "",
      'debugfs: ls -p "/usr/my bin"',
      "/13/104755/0/0/passwd/5/",
      "/14/102755/0/42/expiry/5/",
      "/15/100755/0/0/perl/9/",
      "/15/100755/0/0/perl5.36/9/",
      "/16/120777/0/0/sh/4/",
      "",
    ].join("\n");
    const entries = parseLsSession(session);
    assert.deepEqual(
      entries.map((e) => e.path),
      [
        "/usr",
        "/tmp",
        "/usr/my bin/passwd",
        "/usr/my bin/expiry",
        "/usr/my bin/perl",
        "/usr/my bin/perl5.36",
        "/usr/my bin/sh",
      ],
    );
    const plan = repairPlan(entries);
    assert.deepEqual(
      plan.chmods.map((e) => [e.path, (e.mode & 0o7777).toString(8)]),
      [
        ["/usr/my bin/passwd", "4755"],
        ["/usr/my bin/expiry", "2755"],
      ],
    );
    assert.deepEqual(plan.links, [["/usr/my bin/perl", "/usr/my bin/perl5.36"]]);
  });
});

describe("listing an image level by level", () => {
  it("walks into directories, and refuses a listing that came back short", async () => {
    const fake = new FakeCommandRunner().on(["debugfs", "-f", "-"], (_argv, opts) => {
      const dirs = String(opts.input).trim().split("\n");
      if (dirs[0] === "ls -p /")
        return { stdout: "debugfs: ls -p /\n/12/040755/0/0/usr//\n/13/040755/0/0/etc//\n" };
      return { stdout: "debugfs: ls -p /usr\n/14/104755/0/0/passwd/5/\n" }; // /etc's listing is missing
    });
    await assert.rejects(listImage("/img", fake), /cannot list \/img \(1 of 2 directories\)/);
    assert.equal(fake.calls.length, 2);
  });
});

describe("NodeCommandRunner", () => {
  it("gives every command the sbin directories a normal user's PATH lacks", async () => {
    const r = await new NodeCommandRunner().run(["sh", "-c", 'echo "$PATH"'], {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    });
    assert.equal(r.stdout.trim(), "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
  });
});
