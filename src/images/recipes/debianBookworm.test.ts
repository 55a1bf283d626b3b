import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ProgressEvent } from "../../api/protocol.js";
import { isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { type BuildUser, UNSHARE_ARGV } from "../userns.js";
import type { AgentProvider } from "./agent.js";
import {
  customizeDebianTree,
  DEBIAN_MIRRORS,
  DEBIAN_PACKAGES,
  debianImageVersion,
  mmdebstrapArgv,
} from "./debianBookworm.js";
import { MASKED_UNITS } from "./debianSystemd.js";
import { LocalRecipeRunner } from "./RecipeRunner.js";
import { PIPE_SCRIPT } from "./rootlessTree.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-debian-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const fakeAgent = (builds: string[] = []): AgentProvider => ({
  sourceKey: async () => "agent source v1",
  build: async (outDir) => {
    builds.push(outDir);
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, "banger-agent"), "ELF", { mode: 0o755 });
    return path.join(outDir, "banger-agent");
  },
});

/** A tree like the one mmdebstrap leaves (the parts the recipe touches). */
function fakeDebootstrap(root: string): void {
  for (const d of ["etc/ssh/sshd_config.d", "etc/systemd/system/timers.target.wants", "root/.ssh"])
    mkdirSync(path.join(root, d), { recursive: true });
  writeFileSync(path.join(root, "etc/debian_version"), "12.15\n");
  writeFileSync(path.join(root, "etc/ssh/ssh_host_ed25519_key"), "key");
  writeFileSync(path.join(root, "etc/ssh/ssh_host_rsa_key.pub"), "pub");
  writeFileSync(path.join(root, "etc/resolv.conf"), "nameserver 10.0.0.1\n");
  writeFileSync(path.join(root, "root/.bashrc"), "# bashrc\n");
}

describe("debian-bookworm recipe pieces", () => {
  it("mmdebstrap: apt variant, unshare mode (no root), tar output, the packages and mirrors", () => {
    const argv = mmdebstrapArgv("/w/rootfs.tar", DEBIAN_PACKAGES, DEBIAN_MIRRORS);
    assert.deepEqual(argv.slice(0, 4), ["mmdebstrap", "--variant=apt", "--mode=unshare", "--format=tar"]);
    assert.match(argv[4]!, /^--include=systemd-sysv,udev,openssh-server,iproute2,ca-certificates,curl,git,/);
    assert.deepEqual(argv.slice(5, 7), ["bookworm", "/w/rootfs.tar"]);
    assert.ok(argv.includes("deb http://deb.debian.org/debian-security bookworm-security main"));
  });

  it("version: Debian major and the build day", () => {
    assert.equal(debianImageVersion("12.15\n", new Date("2025-05-20T23:00:00Z")), "12-20250520");
  });

  it("customizes a tree: no host keys, keys-only root login, agent + units, masks, empty resolver", async () => {
    const root = path.join(dir, "rootfs");
    fakeDebootstrap(root);
    const agent = path.join(dir, "agent-bin");
    writeFileSync(agent, "ELF");
    await customizeDebianTree(root, agent);
    assert.deepEqual(
      readdirSync(path.join(root, "etc/ssh")).filter((n) => n.startsWith("ssh_host_")),
      [],
    );
    assert.match(
      readFileSync(path.join(root, "etc/ssh/sshd_config.d/banger.conf"), "utf8"),
      /PermitRootLogin prohibit-password/,
    );
    assert.equal(statSync(path.join(root, "usr/sbin/banger-agent")).mode & 0o777, 0o755);
    const sys = path.join(root, "etc/systemd/system");
    assert.equal(
      readlinkSync(path.join(sys, "sysinit.target.wants/banger-agent.service")),
      "/etc/systemd/system/banger-agent.service",
    );
    assert.equal(
      readlinkSync(path.join(sys, "ssh.service.wants/banger-hostkeys.service")),
      "/etc/systemd/system/banger-hostkeys.service",
    );
    assert.match(
      readFileSync(path.join(sys, "banger-agent.service"), "utf8"),
      /After=systemd-udevd\.service/,
    );
    for (const u of MASKED_UNITS) assert.equal(readlinkSync(path.join(sys, u)), "/dev/null", u);
    assert.ok(!existsSync(path.join(sys, "timers.target.wants/apt-daily.timer")));
    assert.doesNotMatch(readFileSync(path.join(root, "etc/resolv.conf"), "utf8"), /nameserver/);
    assert.equal(readFileSync(path.join(root, "etc/machine-id"), "utf8"), "");
    assert.equal(readFileSync(path.join(root, "etc/hostname"), "utf8"), "banger\n");
  });
});

describe("LocalRecipeRunner: debian-bookworm with a fake runner", () => {
  /** A fake host; commands in the build namespace are unwrapped (and also recorded with "ns"). */
  function fakeRunner(): FakeCommandRunner {
    const fake = new FakeCommandRunner()
      .on(["bash", "-c", PIPE_SCRIPT], (argv) => {
        fakeDebootstrap(argv[4]!);
        return {};
      })
      .on(["mkdir"], (argv) => {
        mkdirSync(argv.at(-1)!, { recursive: true });
        return {};
      })
      .on(["rm", "-rf"], (argv) => {
        rmSync(argv.at(-1)!, { recursive: true, force: true });
        return {};
      })
      .on(["du"], { stdout: "314572800\tx\n" })
      .on(["mkfs.ext4"], (argv) => {
        writeFileSync(argv[argv.length - 2]!, "ext4");
        return {};
      });
    const run = fake.run.bind(fake);
    fake.run = (argv, opts) => {
      const ns = UNSHARE_ARGV.every((a, i) => argv[i] === a);
      if (!ns) return run(argv, opts);
      fake.calls.push(["ns"]);
      return run(argv.slice(UNSHARE_ARGV.length), opts);
    };
    return fake;
  }
  const me: BuildUser = { kind: "self", name: "tester", uid: 1000, gid: 1000 };

  it("builds into the cache (work seed from /root), then reuses it; progress has timed stages", async () => {
    const runner = fakeRunner();
    const builds: string[] = [];
    const recipes = new LocalRecipeRunner({
      runner,
      cacheDir: path.join(dir, "cache"),
      agent: fakeAgent(builds),
      now: () => new Date("2025-01-02T03:04:05Z"),
      buildUser: async () => me,
    });
    const events: ProgressEvent[] = [];
    const ctx = {
      workDir: path.join(dir, "work"),
      onProgress: (e: ProgressEvent) => events.push(e),
      catalogEntry: {},
    };
    const res = await recipes.run("debian-bookworm", ctx);
    assert.equal(res.version, "12-20250102");
    assert.match(res.files.rootfs!, /cache\/image-debian-bookworm-[0-9a-f]{16}\/rootfs\.ext4$/);
    assert.ok(existsSync(res.files.workSeed!));
    const entry = path.dirname(res.files.rootfs!);
    assert.deepEqual(readdirSync(entry).sort(), ["manifest.json", "rootfs.ext4", "work-seed.ext4"]);
    const mkfsAt = runner.calls.flatMap((c, i) => (c[0] === "mkfs.ext4" ? [i] : []));
    const mkfs = mkfsAt.map((i) => runner.calls[i]!);
    assert.equal(mkfs.length, 2);
    assert.ok(
      mkfsAt.every((i) => runner.calls[i - 1]?.[0] === "ns"),
      "mkfs.ext4 -d runs in the build namespace",
    );
    const stream = runner.calls.find((c) => c[0] === "bash")!;
    assert.deepEqual(stream.slice(5, 9), ["mmdebstrap", "--variant=apt", "--mode=unshare", "--format=tar"]);
    assert.equal(stream[stream.indexOf("bookworm") + 1], "-", "mmdebstrap writes the tarball to the pipe");
    assert.match(
      PIPE_SCRIPT,
      /^"\$@" \| 'unshare' '--user' '--map-auto' '--map-root-user' .* 'tar' '-x' '-p' '--numeric-owner'/m,
    );
    assert.ok(mkfs[0]!.includes("bangerroot") && mkfs[1]!.includes("bangerwork"));
    const done = events.filter((e) => e.phase === "done").map((e) => e.stage);
    assert.deepEqual(done, [
      "recipe:mmdebstrap",
      "recipe:agent",
      "recipe:customize",
      "recipe:mkfs-rootfs",
      "recipe:mkfs-work-seed",
    ]);
    assert.ok(events.every((e) => e.phase !== "done" || typeof e.ms === "number"));

    const again = await recipes.run("debian-bookworm", ctx);
    assert.deepEqual(again, res);
    assert.equal(runner.calls.filter((c) => c[0] === "bash").length, 1);
    assert.equal(builds.length, 1);
  });

  it("a build user that fails its preflight stops the build before any command", async () => {
    const runner = fakeRunner();
    const recipes = new LocalRecipeRunner({
      runner,
      cacheDir: dir,
      agent: fakeAgent(),
      buildUser: async () => {
        throw new Error("rootless image builds need subordinate ids");
      },
    });
    await assert.rejects(
      recipes.run("debian-bookworm", { workDir: dir, onProgress: () => {}, catalogEntry: {} }),
      /subordinate ids/,
    );
    assert.equal(runner.calls.length, 0);
  });

  it("an unknown recipe is NOT_FOUND with the known ones in the hint", async () => {
    const recipes = new LocalRecipeRunner({ runner: new FakeCommandRunner(), agent: fakeAgent() });
    await assert.rejects(
      recipes.run("alpine", { workDir: dir, onProgress: () => {}, catalogEntry: {} }),
      (e: unknown) => isBangerError(e) && e.code === "NOT_FOUND" && /debian-bookworm/.test(e.hint ?? ""),
    );
  });
});
