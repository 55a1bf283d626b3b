/**
 * End to end on the small test guest (QEMU, TCG here; daemon in a network
 * namespace this test creates): `vm exec` streams live (first chunk before
 * the command ends), takes stdin, env and cwd, times out with 124, keeps
 * 128+N for a signal, forwards Ctrl-C, runs a pty session (driven through
 * script(1)); `vm cp` round trips a tree keeping modes, mtimes and symlinks,
 * refuses traversal both ways and strips setuid/setgid on the way out.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { HealthReport } from "../../src/api/agent.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { shellQuote } from "../../src/util/shellQuote.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, type NsSandbox, tinyGuestSandbox, until } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;

interface Live {
  code: number;
  stdout: string;
  stderr: string;
  /** ms from spawn to the first stdout byte, and to the exit. */
  firstOut: number;
  exited: number;
}

/** Run the CLI (in the namespace), optionally feeding stdin and acting on output as it comes. */
function live(
  args: string[],
  opts: {
    stdin?: Buffer | string;
    onOut?: (all: string, kill: (s: NodeJS.Signals) => void) => void;
    viaScript?: boolean;
  } = {},
): Promise<Live> {
  const bin = path.join(repoRoot(), "bin", "banger");
  let argv = [process.execPath, bin, ...args];
  if (opts.viaScript) argv = ["script", "-qec", shellQuote(argv), "/dev/null"];
  argv = [...t.sb.wrap, ...argv];
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(argv[0]!, argv.slice(1), { env: t.sb.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let firstOut = -1;
    child.stdout.on("data", (b) => {
      if (firstOut < 0) firstOut = Date.now() - t0;
      stdout += b;
      opts.onOut?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on("data", (b) => (stderr += b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code: code ?? 1, stdout, stderr, firstOut, exited: Date.now() - t0 }),
    );
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else if (!opts.onOut) child.stdin.end();
  });
}

async function guestSh(script: string): Promise<string> {
  return (await t.ok(["vm", "exec", "box", "--", "sh", "-c", script])).stdout;
}

describe("vm exec and vm cp on a real guest", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await tinyGuestSandbox("bgcpx", guest);
    await t.ok(["vm", "create", "--name", "box"]);
    await until("a healthy agent", async () => {
      const x = await t.json<HealthReport>(["vm", "health", "box"]);
      return x.status === "healthy" ? x : undefined;
    });
  });

  after(async () => {
    await t?.cleanup();
  });

  test("exec streams: the first line arrives seconds before the command ends", async () => {
    const r = await live(["vm", "exec", "box", "--", "sh", "-c", "echo first; sleep 4; echo second"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "first\nsecond\n");
    assert.ok(r.exited - r.firstOut >= 3000, `first chunk at ${r.firstOut} ms, exit at ${r.exited} ms`);
  });

  test("exec -i: 1 MiB of stdin arrives whole and in order; --env and --cwd apply", async () => {
    const data = randomBytes(1024 * 1024);
    const r = await live(["vm", "exec", "-i", "box", "--", "md5sum"], { stdin: data });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(" ")[0], createHash("md5").update(data).digest("hex"));
    const e = await t.ok([
      "vm",
      "exec",
      "--env",
      "A=1",
      "-e",
      "B=two words",
      "--cwd",
      "/tmp",
      "box",
      "--",
      "sh",
      "-c",
      'echo "$A|$B|$(pwd)"',
    ]);
    assert.equal(e.stdout, "1|two words|/tmp\n");
    const bad = await t.cli(["vm", "exec", "--env", "NOEQUALS", "box", "--", "true"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--env "NOEQUALS": expected KEY=VALUE/);
  });

  test("exec --timeout kills with 124; a signal death is 128+N; Ctrl-C reaches the guest command", async () => {
    const to = await live(["vm", "exec", "--timeout", "2", "box", "--", "sleep", "60"]);
    assert.equal(to.code, 124, to.stderr);
    assert.ok(to.exited < 20_000, `took ${to.exited} ms`);
    assert.match(to.stderr, /ran out of time \(--timeout 2 s\)/);
    const killed = await t.cli(["vm", "exec", "box", "--", "sh", "-c", "kill -KILL $$"]);
    assert.equal(killed.code, 137);
    let sent = false;
    const int = await live(
      [
        "vm",
        "exec",
        "box",
        "--",
        "sh",
        "-c",
        'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 1; done',
      ],
      {
        onOut: (all, kill) => {
          if (!sent && all.includes("ready")) {
            sent = true;
            kill("SIGINT");
          }
        },
      },
    );
    assert.equal(int.code, 7, int.stderr);
    assert.match(int.stdout, /got-int/);
  });

  test("exec -t: a pty session driven through script(1)", async () => {
    const r = await live(["vm", "exec", "-t", "box", "--", "sh"], {
      viaScript: true,
      stdin: "tty; echo hi-$((6*7)); exit 4\n",
    });
    assert.equal(r.code, 4, r.stderr + r.stdout);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
    assert.match(r.stdout, /hi-42/);
  });

  test("cp round trip: a tree keeps modes, mtimes, symlinks and bytes", async () => {
    const src = path.join(t.sb.dir, "tree");
    await mkdir(path.join(src, "bin"), { recursive: true });
    const big = randomBytes(8 * 1024 * 1024);
    await writeFile(path.join(src, "big.bin"), big);
    await writeFile(path.join(src, "bin", "run.sh"), "#!/bin/sh\necho ran\n");
    await chmod(path.join(src, "bin", "run.sh"), 0o750);
    await chmod(path.join(src, "big.bin"), 0o604);
    await symlink("bin/run.sh", path.join(src, "link"));
    await utimes(path.join(src, "big.bin"), 1_500_000_000, 1_500_000_000);
    await chmod(path.join(src, "bin"), 0o711);
    await utimes(path.join(src, "bin"), 1_400_000_000, 1_400_000_000);
    await t.ok(["vm", "cp", src, "box:/root/"]);
    const seen = await guestSh(
      "cd /root/tree && stat -c '%n %a %Y' big.bin bin bin/run.sh && readlink link && ./link && md5sum big.bin",
    );
    assert.match(seen, /^big\.bin 604 1500000000$/m);
    assert.match(seen, /^bin 711 1400000000$/m);
    assert.match(seen, /^bin\/run\.sh 750 /m);
    assert.match(seen, /^bin\/run\.sh\nran$/m, "the link points at the script, which runs");
    assert.ok(seen.includes(createHash("md5").update(big).digest("hex")));

    const back = path.join(t.sb.dir, "back");
    await mkdir(back);
    await t.ok(["vm", "cp", "box:/root/tree", back]);
    const b = path.join(back, "tree");
    assert.ok((await readFile(path.join(b, "big.bin"))).equals(big));
    assert.equal((await stat(path.join(b, "big.bin"))).mode & 0o7777, 0o604);
    assert.equal((await stat(path.join(b, "big.bin"))).mtimeMs, 1_500_000_000_000);
    assert.equal((await stat(path.join(b, "bin"))).mode & 0o7777, 0o711);
    assert.equal((await stat(path.join(b, "bin"))).mtimeMs, 1_400_000_000_000);
    assert.equal(await readlink(path.join(b, "link")), "bin/run.sh");
  });

  test("cp in refuses links that climb out and symlinked parents planted in the guest", async () => {
    const esc = path.join(t.sb.dir, "esc");
    await mkdir(esc);
    await symlink("../../../etc/shadow", path.join(esc, "up"));
    const r1 = await t.cli(["vm", "cp", esc, "box:/root/"]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /refused the link up -> \.\.\/\.\.\/\.\.\/etc\/shadow/);
    const pl = path.join(t.sb.dir, "pl");
    await mkdir(path.join(pl, "sub"), { recursive: true });
    await writeFile(path.join(pl, "sub", "pwned"), "x");
    await guestSh("mkdir -p /root/pl /tmp/elsewhere && ln -s /tmp/elsewhere /root/pl/sub");
    const r2 = await t.cli(["vm", "cp", pl, "box:/root/"]);
    assert.equal(r2.code, 1);
    assert.match(
      r2.stderr,
      /cannot write pl\/sub: File exists/,
      "the planted link is not a directory: refused",
    );
    assert.equal(
      await guestSh("ls -A /tmp/elsewhere; echo end"),
      "end\n",
      "nothing written through the link",
    );
  });

  test("cp out skips links leaving the copy and strips setuid/setgid", async () => {
    await guestSh(
      "mkdir -p /root/ev && echo ok > /root/ev/f && chmod 6755 /root/ev/f && ln -s /etc/passwd /root/ev/abs && ln -s ../../../x /root/ev/up && ln -s f /root/ev/good",
    );
    const dest = path.join(t.sb.dir, "evout");
    const r = await t.cli(["vm", "cp", "box:/root/ev", dest]);
    assert.equal(r.code, 1, "skipped entries make it exit 1");
    assert.match(r.stderr, /skipped the symlink abs -> \/etc\/passwd: it points to an absolute path/);
    assert.match(r.stderr, /skipped the symlink up -> \.\.\/\.\.\/\.\.\/x: it climbs out of the copy/);
    assert.equal(await lstat(path.join(dest, "abs")).catch(() => null), null);
    assert.equal(await lstat(path.join(dest, "up")).catch(() => null), null);
    assert.equal(await readlink(path.join(dest, "good")), "f");
    assert.equal((await stat(path.join(dest, "f"))).mode & 0o7777, 0o755);
    assert.equal(existsSync(path.join(t.sb.dir, "x")), false);
  });
});
