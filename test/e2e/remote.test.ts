/**
 * Remote hosts end to end: an sshd (Debian's openssh-server) bound to the
 * loopback of a network namespace this test creates, root with a generated
 * key, and the CLI run with BANGER_HOST=ssh://root@127.0.0.1:2222 (or
 * --host) from a client HOME that has no daemon of its own. The far side's
 * banger is a wrapper named by BANGER_REMOTE_BIN that gives it the sandbox's
 * HOME (so its daemon is the sandbox's, never the machine's).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { HealthReport } from "../../src/api/agent.js";
import type { VmListResult } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { Banger } from "../../src/sdk/index.js";
import { shellQuote } from "../../src/util/shellQuote.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, type NsSandbox, tinyGuestSandbox, until } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";

const runner = new NodeCommandRunner();
const noSshd = existsSync("/usr/sbin/sshd") ? false : "needs sshd (apt-get install openssh-server)";
const skip = e2eSkipReason() || noSshd;
let t: NsSandbox;
let guest: TestGuest;
let sshd: ChildProcess | undefined;
let madePrivsepDir = false;
let remoteEnv: Record<string, string>;
let clientDir: string;
/** ssh for the SDK in this test process: it runs outside the namespace, so its ssh enters it. */
let sdkSsh: string;

function script(file: string, body: string): string {
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** Keys, sshd config, the far side's banger wrapper and the client's ssh wrapper. */
function setUpSsh(dir: string): string {
  const keygen = (f: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", f]);
  keygen(path.join(dir, "host_key"));
  keygen(path.join(dir, "client_key"));
  writeFileSync(path.join(dir, "authorized_keys"), readFileSync(path.join(dir, "client_key.pub")));
  const hostPub = readFileSync(path.join(dir, "host_key.pub"), "utf8").trim();
  writeFileSync(path.join(dir, "known_hosts"), `[127.0.0.1]:2222 ${hostPub}\n`);
  const cfg = path.join(dir, "sshd_config");
  writeFileSync(
    cfg,
    [
      "ListenAddress 127.0.0.1",
      "Port 2222",
      `HostKey ${path.join(dir, "host_key")}`,
      `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    path.join(dir, "ssh_config"),
    [
      "Host 127.0.0.1",
      `  IdentityFile ${path.join(dir, "client_key")}`,
      "  IdentitiesOnly yes",
      `  UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
      "  StrictHostKeyChecking yes",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  return cfg;
}

describe("remote hosts over ssh", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await tinyGuestSandbox("bgrem", guest);
    const dir = t.sb.dir;
    const cfg = setUpSsh(dir);
    if (!existsSync("/run/sshd")) {
      mkdirSync("/run/sshd", { mode: 0o755 });
      madePrivsepDir = true;
    }
    sshd = spawn("ip", ["netns", "exec", t.ns, "/usr/sbin/sshd", "-D", "-e", "-f", cfg], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let sshdLog = "";
    sshd.stderr?.on("data", (b) => (sshdLog += b));
    const farEnv = Object.entries(t.sb.env)
      .map(([k, v]) => `${k}=${shellQuote([v])}`)
      .join(" ");
    const remoteBin = script(
      path.join(dir, "remote-banger"),
      `exec env ${farEnv} '${process.execPath}' '${path.join(repoRoot(), "bin", "banger")}' "$@"`,
    );
    const sshWrapper = script(
      path.join(dir, "ssh-wrapper"),
      `exec ssh -F '${path.join(dir, "ssh_config")}' "$@"`,
    );
    sdkSsh = script(path.join(dir, "ssh-in-ns"), `exec ip netns exec ${t.ns} '${sshWrapper}' "$@"`);
    clientDir = path.join(dir, "client");
    mkdirSync(path.join(clientDir, "run"), { recursive: true, mode: 0o700 });
    remoteEnv = {
      HOME: path.join(clientDir, "home"),
      XDG_RUNTIME_DIR: path.join(clientDir, "run"),
      BANGER_HOST: "ssh://root@127.0.0.1:2222",
      BANGER_REMOTE_BIN: remoteBin,
      BANGER_SSH: sshWrapper,
    };
    await until("sshd listening", async () => (/Server listening/.test(sshdLog) ? true : undefined), 20_000);
  });

  after(async () => {
    sshd?.kill("SIGTERM");
    await t?.cleanup();
    if (madePrivsepDir) rmdirSync("/run/sshd");
  });

  const remote = (args: string[], env: Record<string, string> = {}) =>
    t.sb.cli(args, { env: { ...remoteEnv, ...env } });

  test("the same commands, through ssh: create (--host), list, exec with exit codes, and the same errors", async () => {
    const { BANGER_HOST, ...noHost } = remoteEnv;
    const c = await t.sb.cli(["--host", BANGER_HOST!, "vm", "create", "--name", "rbox"], { env: noHost });
    assert.equal(c.code, 0, c.stderr);
    await until("a healthy agent", async () => {
      const r = await remote(["vm", "health", "rbox", "--json"]);
      return (JSON.parse(r.stdout) as HealthReport).status === "healthy" ? true : undefined;
    });
    const list = JSON.parse((await remote(["vm", "list", "--json"])).stdout) as VmListResult;
    assert.deepEqual(
      list.vms.map((v) => v.name),
      ["rbox"],
    );
    assert.equal(existsSync(path.join(clientDir, "run", "banger", "bangerd.sock")), false, "no local daemon");
    const x = await remote(["vm", "exec", "rbox", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual([x.code, x.stdout, x.stderr], [3, "out\n", "err\n"]);
    const far = await remote(["vm", "show", "nope"]);
    const near = await t.cli(["vm", "show", "nope"]);
    assert.equal(far.code, near.code);
    assert.equal(far.stderr, near.stderr, "the same error, word for word");
  });

  test("the SDK reaches the same daemon through ssh ({ host }): list and exec with its exit code", async () => {
    const b = await Banger.connect({
      host: remoteEnv.BANGER_HOST!,
      env: { ...process.env, ...remoteEnv, BANGER_SSH: sdkSsh },
    });
    try {
      assert.deepEqual(
        (await b.vms.list()).map((v) => v.name),
        ["rbox"],
      );
      const r = await (await b.vms.get("rbox")).exec(["sh", "-c", "echo sdk; echo e >&2; exit 4"]);
      assert.deepEqual([r.exitCode, r.stdout, r.stderr], [4, "sdk\n", "e\n"]);
    } finally {
      b.close();
    }
    await assert.rejects(Banger.connect({ host: "box" }), /is not an ssh URL/);
  });

  test("vm cp takes the client's paths and streams them over the connection", async () => {
    const file = path.join(clientDir, "note.txt");
    writeFileSync(file, "from the client\n", { mode: 0o640 });
    const up = await remote(["vm", "cp", file, "rbox:/root/"]);
    assert.equal(up.code, 0, up.stderr);
    const seen = await remote([
      "vm",
      "exec",
      "rbox",
      "--",
      "sh",
      "-c",
      "cat /root/note.txt; stat -c %a /root/note.txt",
    ]);
    assert.equal(seen.stdout, "from the client\n640\n");
    const down = await remote(["vm", "cp", "rbox:/root/note.txt", path.join(clientDir, "back.txt")]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(path.join(clientDir, "back.txt"), "utf8"), "from the client\n");
  });

  test("vm ssh runs `ssh host banger vm ssh NAME` there: the remote's key stays there", async () => {
    const r = await until("a shell through both hops", async () => {
      const x = await remote(["vm", "ssh", "rbox", "--", "echo", "via-remote-ssh"]);
      return x.code === 0 ? x : undefined;
    });
    assert.equal(r.stdout.trim(), "via-remote-ssh");
    assert.equal(
      existsSync(path.join(clientDir, "home", ".local", "state", "banger")),
      false,
      "no state, no key on the client",
    );
  });

  test("an unreachable host: a clear error with ssh's words", async () => {
    const r = await remote(["vm", "list"], { BANGER_HOST: "ssh://root@127.0.0.1:2223" });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cannot reach the banger daemon on root@127\.0\.0\.1:2223 through ssh: .*Connection refused/,
    );
    const bad = await remote(["vm", "list"], { BANGER_HOST: "box" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"box" is not an ssh URL/);
  });
});
