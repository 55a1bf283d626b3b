/**
 * End to end as a normal user: root installs the helper and the sudoers line
 * with `banger sudoers --install --user U`; then U, inside a network
 * namespace made here, runs the real CLI (a copy of the built tree in a 0755
 * directory), registers the small test guest and runs `vm run --rm -- id -u`.
 * The daemon must run as U, the VMM not as root, and every privileged step
 * must have gone through `sudo -n` and the installed helper.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HELPER_INSTALL_DIR, HELPER_INSTALL_PATH } from "../../src/helper/protocol.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, registerArgs } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";
import { type CliResult, isAlive, waitDead } from "../helpers/sandbox.js";

const skip =
  e2eSkipReason() ||
  (existsSync("/usr/bin/sudo") && existsSync("/usr/bin/setpriv")
    ? false
    : "needs sudo and setpriv (apt-get install sudo util-linux)");
const suffix = randomBytes(3).toString("hex");
const USER = `bgu${suffix}`;
const NS = `bgunpriv-${suffix}`;

interface Proc {
  pid: number;
  ppid: number;
  uid: number[];
  cmd: string[];
  /** Seccomp, NoNewPrivs and CapEff lines of /proc/PID/status, and /proc/PID/cgroup. */
  seccomp: string;
  noNewPrivs: string;
  capEff: string;
  cgroup: string;
}

function procInfo(pid: number): Proc | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const uid = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? "").split(/\s+/).map(Number);
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const field = (k: string) => new RegExp(`^${k}:\\s+(\\S+)`, "m").exec(status)?.[1] ?? "";
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    return {
      pid,
      ppid,
      uid,
      cmd,
      seccomp: field("Seccomp"),
      noNewPrivs: field("NoNewPrivs"),
      capEff: field("CapEff"),
      cgroup,
    };
  } catch {
    return null;
  }
}

function allProcs(): Proc[] {
  return readdirSync("/proc")
    .filter((x) => /^\d+$/.test(x))
    .map((x) => procInfo(Number(x)))
    .filter((p): p is Proc => p !== null);
}

describe("a normal user runs banger through the sudoers line and the helper", { skip }, () => {
  let dir = "";
  let app = "";
  let home = "";
  let run = "";
  let uid = -1;
  let gid = -1;
  let guest: TestGuest;
  let helperExisted = false;
  /** /dev/net/tun's mode before the test: Debian's udev makes it 0666; a host without udev may have 0600. */
  let tunMode = -1;
  const seen = new Map<number, Proc>();

  const asUser = (args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const env = [
        `HOME=${home}`,
        `XDG_RUNTIME_DIR=${run}`,
        "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        `USER=${USER}`,
        `LOGNAME=${USER}`,
        "NO_COLOR=1",
      ];
      const argv = ["netns", "exec", NS, "setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups"];
      const child = spawn(
        "ip",
        [...argv, "env", "-i", ...env, process.execPath, path.join(app, "bin/banger"), ...args],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b) => (stdout += b));
      child.stderr.on("data", (b) => (stderr += b));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });

  const daemonPid = (): number | null => {
    try {
      return Number(readFileSync(path.join(run, "banger", "bangerd.pid"), "utf8").trim());
    } catch {
      return null;
    }
  };
  /** Our processes: anything whose command line names the test dir, and the helper under our daemon. */
  const ours = (): Proc[] => {
    const d = daemonPid();
    return allProcs().filter(
      (p) => p.pid !== process.pid && (p.cmd.some((a) => a.includes(dir)) || (d !== null && p.ppid === d)),
    );
  };

  before(async () => {
    guest = await ensureTestGuest({ runner: new NodeCommandRunner() });
    dir = mkdtempSync(path.join(tmpdir(), "bgu-"));
    chmodSync(dir, 0o755);
    app = path.join(dir, "app");
    mkdirSync(app);
    for (const p of ["bin", "dist", "data", "node_modules", "package.json"]) {
      execFileSync("cp", ["-a", "-L", "--reflink=auto", path.join(repoRoot(), p), app]);
    }
    home = path.join(dir, "home");
    execFileSync("useradd", ["--create-home", "--home-dir", home, "--shell", "/bin/sh", USER]);
    uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }));
    gid = Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }));
    run = path.join(dir, "run");
    mkdirSync(run, { mode: 0o700 });
    const cfg = path.join(home, ".config", "banger", "config.toml");
    mkdirSync(path.dirname(cfg), { recursive: true });
    writeFileSync(
      cfg,
      [
        'vmm = "qemu"',
        'default_image_name = "tiny"',
        "[network]",
        "tap_pool_size = 1",
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "512M"',
        'disk_size = "1G"',
        "",
      ].join("\n"),
    );
    execFileSync("chown", ["-R", `${uid}:${gid}`, home, run]);
    execFileSync("ip", ["netns", "add", NS]);
    execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
    helperExisted = existsSync(HELPER_INSTALL_DIR);
    tunMode = statSync("/dev/net/tun").mode & 0o777;
    if (tunMode !== 0o666) chmodSync("/dev/net/tun", 0o666);
  });

  after(async () => {
    if (uid >= 0) await asUser(["daemon", "stop"]).catch(() => undefined);
    for (const p of ours()) {
      if (isAlive(p.pid)) process.kill(p.pid, "SIGKILL");
      await waitDead(p.pid);
    }
    spawnSync("ip", ["netns", "del", NS]);
    spawnSync("userdel", ["-r", USER]);
    rmSync(`/etc/sudoers.d/banger-${USER}`, { force: true });
    if (!helperExisted) rmSync(HELPER_INSTALL_DIR, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (tunMode >= 0 && tunMode !== 0o666) chmodSync("/dev/net/tun", tunMode);
  });

  test("root installs the helper and the one sudoers line", () => {
    const out = execFileSync(
      process.execPath,
      [path.join(app, "bin/banger"), "sudoers", "--install", "--user", USER],
      {
        encoding: "utf8",
      },
    );
    const line = new RegExp(
      `^${USER} ALL=\\(root\\) NOPASSWD:NOSETENV: sha256:[0-9a-f]{64} ${HELPER_INSTALL_PATH}$`,
      "m",
    );
    assert.match(out, line);
    const file = `/etc/sudoers.d/banger-${USER}`;
    assert.equal(statSync(file).mode & 0o777, 0o440);
    assert.match(readFileSync(file, "utf8"), line);
    for (const p of [HELPER_INSTALL_DIR, HELPER_INSTALL_PATH, `${HELPER_INSTALL_DIR}/node`]) {
      assert.equal(statSync(p).uid, 0, `${p} is root's`);
      assert.equal(statSync(p).mode & 0o022, 0, `${p} is not group/world-writable`);
    }
    const denied = spawnSync("setpriv", [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--init-groups",
      "sudo",
      "-n",
      "/usr/sbin/ip",
      "link",
    ]);
    assert.notEqual(denied.status, 0, "the line allows nothing but the helper");
  });

  test("doctor, as the user, finds the helper and the line current", async () => {
    const r = await asUser(["doctor", "--json"]);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; detail: string }> })
      .checks;
    const priv = checks.find((c) => c.id === "sudo");
    assert.equal(priv?.status, "pass", JSON.stringify(priv));
  });

  test("vm run --rm -- id -u: daemon as the user, VMM not root, privileged steps through sudo and the helper", async () => {
    const reg = await asUser(registerArgs("tiny", guest));
    assert.equal(reg.code, 0, reg.stderr);
    let running = true;
    const watch = (async () => {
      while (running) {
        for (const p of ours()) seen.set(p.pid, p);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await asUser(["vm", "run", "--rm", "--", "id", "-u"]);
    running = false;
    await watch;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "0", "root inside the guest");

    const d = daemonPid();
    assert.ok(d !== null && isAlive(d), "the daemon is running");
    assert.deepEqual(procInfo(d)?.uid, [uid, uid, uid, uid], "bangerd runs as the user");

    const vmms = [...seen.values()].filter((p) => p.cmd[0]?.includes("qemu-system"));
    assert.ok(
      vmms.length > 0,
      `a QEMU process was seen: ${JSON.stringify([...seen.values()].map((p) => p.cmd[0]))}`,
    );
    for (const v of vmms) {
      process.stderr.write(
        `# VMM ${v.pid}: Uid ${v.uid.join(" ")}; Seccomp ${v.seccomp}; NoNewPrivs ${v.noNewPrivs}; CapEff ${v.capEff}; cgroup ${v.cgroup.replaceAll("\n", " ")}\n`,
      );
      assert.ok(!v.uid.includes(0), `VMM ${v.pid} Uid ${v.uid.join(" ")} is not root`);
      assert.equal(v.seccomp, "2", "QEMU's seccomp filter is on");
      assert.equal(v.noNewPrivs, "1");
      assert.equal(v.capEff, "0000000000000000");
      for (const ctrl of ["memory", "pids", "cpu"]) {
        assert.match(
          v.cgroup,
          new RegExp(`:${ctrl}(,[a-z]+)*:.*/banger/u${uid}/[0-9a-f]{16}$`, "m"),
          `the VMM is in its VM's ${ctrl} cgroup`,
        );
      }
    }
    const helper = [...seen.values()].find(
      (p) => p.ppid === d && p.cmd.join(" ") === `sudo -n ${HELPER_INSTALL_PATH}`,
    );
    assert.ok(helper, "the daemon started the helper through sudo -n");

    const taps = JSON.parse(
      execFileSync("ip", ["-n", NS, "-j", "tuntap", "show"], { encoding: "utf8" }),
    ) as Array<{ ifname: string; user?: number }>;
    const mine = taps.filter((t) => t.ifname.startsWith(`bgr${uid}`.slice(0, 9)));
    assert.ok(
      mine.length > 0 && mine.every((t) => t.user === uid),
      `TAPs owned by the user: ${JSON.stringify(taps)}`,
    );
    const br = JSON.parse(
      execFileSync("ip", ["-n", NS, "-j", "-d", "link", "show", "dev", `bgr${uid}`], { encoding: "utf8" }),
    ) as Array<{ ifalias?: string }>;
    assert.equal(br[0]?.ifalias, `banger:uid=${uid}`);
  });

  test("as the user: suspend, resume and fork keep the guest's RAM; the saved files are the user's", async () => {
    const ok = async (args: string[]) => {
      const r = await asUser(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      return r.stdout.trim();
    };
    await ok(["vm", "create", "--name", "nap", "--image", "tiny"]);
    assert.equal(
      await ok(["vm", "exec", "nap", "--", "sh", "-c", "echo kept > /dev/shm/m && cat /dev/shm/m"]),
      "kept",
    );
    const v = JSON.parse(await ok(["vm", "suspend", "nap", "--json"])) as {
      state: string;
      paths: { vmDir: string };
    };
    assert.equal(v.state, "suspended");
    for (const f of ["memory.raw", "state.bin"]) {
      const st = statSync(path.join(v.paths.vmDir, f));
      assert.equal(st.uid, uid, `${f} belongs to the user`);
      assert.equal(st.mode & 0o077, 0, `${f} is private`);
    }
    await ok(["vm", "resume", "nap"]);
    assert.equal(await ok(["vm", "exec", "nap", "--", "cat", "/dev/shm/m"]), "kept");
    await ok(["vm", "fork", "nap", "--name", "twin"]);
    assert.equal(
      await ok(["vm", "exec", "twin", "--", "sh", "-c", "cat /dev/shm/m; hostname"]),
      "kept\ntwin",
    );
    await ok(["vm", "delete", "--force", "twin"]);
    await ok(["vm", "delete", "--force", "nap"]);
  });
});
