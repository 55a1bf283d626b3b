/**
 * Agent version 2 on the host (the REAL C agent with --unix in a temp dir):
 * a pty session with resizes, file transfers out (get, paced by credit) and
 * in (put), and what each side refuses: `..` paths, links that climb out,
 * symlinked parents; the host extractor strips setuid/setgid.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { FileEntry } from "../../src/api/files.js";
import { Extractor } from "../../src/cli/cp/extract.js";
import { buildAgent } from "../../src/guest/agent/buildAgent.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { AgentClient, type ExecControl } from "../../src/services/agent/AgentClient.js";
import { getFiles, putFiles } from "../../src/services/agent/transfers.js";
import { waitFor as waitUntil } from "../../src/util/poll.js";
import { findExecutable } from "../../src/vmm/qemu/accel.js";

const noGcc = (await findExecutable("gcc")) ? false : "gcc not found (apt-get install gcc libc6-dev)";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let dir: string;
let agent: ChildProcess | undefined;
let client: AgentClient;

async function waitFor(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  await waitUntil(fn, { timeoutMs, intervalMs: 20, what });
}

/** Pull `src` through get into `dest` with the CLI's Extractor; credit as data is written. */
async function pull(src: string, dest: string, opts: { credit?: boolean } = {}) {
  const warnings: string[] = [];
  const ex = new Extractor(dest, (m) => warnings.push(m));
  let chain = Promise.resolve();
  let received = 0;
  const h = getFiles(client, src, {
    onEntry: (e) => (chain = chain.then(() => ex.entry(e))),
    onData: (b) => {
      received += b.length;
      chain = chain.then(async () => {
        await ex.data(b);
        if (opts.credit !== false) h.credit(b.length);
      });
    },
    onWarning: (m) => warnings.push(m),
  });
  return {
    h,
    ex,
    warnings,
    received: () => received,
    done: async () => {
      const code = await h.result;
      await chain;
      await ex.finish();
      return code;
    },
  };
}

async function put(dest: string, name: string, entries: Array<FileEntry & { data?: string }>) {
  const p = putFiles(client, dest, name);
  for (const e of entries) {
    await p.entry(e);
    if (e.data) await p.data(Buffer.from(e.data));
  }
  await p.end();
}

type PutEntry = FileEntry & { data?: string };
const ent = (type: FileEntry["type"], p: string, mode: number, extra: Partial<PutEntry> = {}): PutEntry => ({
  type,
  path: p,
  mode,
  mtimeSec: 1_600_000_000,
  mtimeNsec: 0,
  size: 0,
  ...extra,
});

describe("agent v2 on the host: pty and file transfers", { skip: noGcc }, () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-agent-files-"));
    const bin = await buildAgent({ runner: new NodeCommandRunner(), outDir: path.join(dir, "bin") });
    const sock = path.join(dir, "agent.sock");
    agent = spawn(bin, ["--unix", sock], { stdio: ["ignore", "ignore", "inherit"] });
    await waitFor("the agent's socket", () => existsSync(sock));
    client = await AgentClient.connect({ driver: "qemu", agentSocket: sock });
    assert.ok(Number(await client.ping()) >= 2, "agent version 2 or later");
  });

  after(async () => {
    client?.close();
    agent?.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  it("exec on a pty: a terminal of the asked size, resized while it runs, Ctrl-C as a byte interrupts", async () => {
    let out = "";
    let ctl: ExecControl | undefined;
    const input = (async function* () {
      await waitFor("the first size", () => out.includes("30 100"));
      ctl?.resize(40, 120);
      yield "go\n";
      await waitFor("the second size", () => out.includes("40 120"));
      yield "\u0003"; // ^C through the line discipline: SIGINT to the foreground group
    })();
    const code = await client.exec(["sh", "-c", "tty; stty size; read x; stty size; sleep 30"], {
      pty: { rows: 30, cols: 100 },
      stdin: input,
      onStart: (c) => (ctl = c),
      onStdout: (b) => (out += b.toString()),
    });
    assert.match(out, /^\/dev\/pts\/\d+\r$/m, "stdin/stdout are a pty");
    assert.match(out, /^30 100\r$/m);
    assert.match(out, /^40 120\r$/m, "the resize reached the pty");
    assert.equal(code, 130, "killed by SIGINT: 128+2");
  });

  it("get then extract: modes, mtimes, symlinks kept; setuid and setgid stripped; links out of the copy skipped", async () => {
    const src = path.join(dir, "src");
    await mkdir(path.join(src, "sub"), { recursive: true });
    await writeFile(path.join(src, "a.txt"), "alpha\n");
    await chmod(path.join(src, "a.txt"), 0o640);
    await writeFile(path.join(src, "sub", "suid"), "x");
    await chmod(path.join(src, "sub", "suid"), 0o6755);
    await symlink("../a.txt", path.join(src, "sub", "rel"));
    await symlink("/etc/passwd", path.join(src, "sub", "abs"));
    await symlink("../../outside", path.join(src, "sub", "up"));
    await chmod(path.join(src, "sub"), 0o750);
    await utimes(path.join(src, "a.txt"), 1_500_000_000, 1_500_000_000);
    await utimes(path.join(src, "sub"), 1_400_000_000, 1_400_000_000);
    const dest = path.join(dir, "out");
    const r = await pull(src, dest);
    assert.equal(await r.done(), 0);
    assert.equal(await readFile(path.join(dest, "a.txt"), "utf8"), "alpha\n");
    assert.equal((await stat(path.join(dest, "a.txt"))).mode & 0o7777, 0o640);
    assert.equal((await stat(path.join(dest, "a.txt"))).mtimeMs, 1_500_000_000_000);
    assert.equal((await stat(path.join(dest, "sub"))).mode & 0o7777, 0o750);
    assert.equal((await stat(path.join(dest, "sub"))).mtimeMs, 1_400_000_000_000, "dir mtime set last");
    assert.equal((await stat(path.join(dest, "sub", "suid"))).mode & 0o7777, 0o755, "setuid/setgid stripped");
    assert.equal(await readlink(path.join(dest, "sub", "rel")), "../a.txt", "a link stays a link");
    for (const l of ["abs", "up"]) {
      assert.equal(await lstat(path.join(dest, "sub", l)).catch(() => null), null, `${l} not created`);
    }
    assert.equal(r.warnings.length, 2, r.warnings.join("\n"));
    assert.match(r.warnings.join("\n"), /sub\/abs -> \/etc\/passwd: it points to an absolute path/);
  });

  it("get is paced by credit: without it the agent stops after its window", async () => {
    const big = path.join(dir, "big.bin");
    await writeFile(big, Buffer.alloc(16 * 1024 * 1024, 7));
    const r = await pull(big, path.join(dir, "big.out"), { credit: false });
    await sleep(500);
    const held = r.received();
    assert.ok(held > 0 && held <= 2 * 1024 * 1024 + 64 * 1024, `sent ${held} bytes ahead of credit`);
    r.h.credit(64 * 1024 * 1024);
    assert.equal(await r.done(), 0);
    assert.equal((await stat(path.join(dir, "big.out"))).size, 16 * 1024 * 1024);
  });

  it("the host extractor refuses .. paths, absolute paths and symlinked parents", async () => {
    for (const [entries, re] of [
      [[ent("dir", "", 0o755), ent("file", "../x", 0o644)], /has a "\.\." component/],
      [[ent("dir", "", 0o755), ent("file", "/etc/x", 0o644)], /is absolute/],
      [
        [ent("dir", "", 0o755), ent("symlink", "d", 0o777, { target: "." }), ent("file", "d/x", 0o644)],
        /not a directory \(a symlink\?\)/,
      ],
    ] as const) {
      const root = await mkdtemp(path.join(dir, "ex-"));
      const ex = new Extractor(path.join(root, "copy"), () => {});
      let err: Error | undefined;
      for (const e of entries) await ex.entry(e).catch((x: Error) => (err ??= x));
      assert.match(String(err?.message), re);
    }
  });

  it("put: a tree lands with modes and mtimes; .., escaping links and symlinked parents are refused", async () => {
    const dest = await mkdtemp(path.join(dir, "put-"));
    await put(dest, "tree", [
      ent("dir", "", 0o750),
      ent("file", "f.txt", 0o600, { data: "put data" }),
      ent("symlink", "ln", 0o777, { target: "f.txt" }),
    ]);
    assert.equal(await readFile(path.join(dest, "tree", "f.txt"), "utf8"), "put data");
    assert.equal((await stat(path.join(dest, "tree"))).mode & 0o7777, 0o750);
    assert.equal((await stat(path.join(dest, "tree", "f.txt"))).mtimeMs, 1_600_000_000_000);
    assert.equal(await readlink(path.join(dest, "tree", "ln")), "f.txt");
    await assert.rejects(
      put(dest, "t2", [ent("dir", "", 0o755), ent("file", "../esc", 0o644)]),
      /cannot write/,
    );
    await assert.rejects(
      put(dest, "t3", [ent("dir", "", 0o755), ent("symlink", "l", 0o777, { target: "../../etc" })]),
      /refused the link l -> \.\.\/\.\.\/etc/,
    );
    await symlink(dir, path.join(dest, "tree", "planted"));
    await assert.rejects(
      put(dest, "tree", [ent("dir", "", 0o755), ent("file", "planted/pwned", 0o644, { data: "x" })]),
      /cannot write tree\/planted\/pwned: (Not a directory|Too many levels of symbolic links)/,
    );
    assert.equal(existsSync(path.join(dir, "pwned")), false, "nothing written through the planted link");
    assert.equal(existsSync(path.join(dest, "esc")), false);
  });
});
