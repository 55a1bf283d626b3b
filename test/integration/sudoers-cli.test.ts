/**
 * `banger sudoers`: the exact line (digest of what --install writes), and
 * refusals that leave the host unchanged: not root, a bad or unknown user.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { HELPER_INSTALL_DIR } from "../../src/helper/protocol.js";
import { repoRoot } from "../helpers/repoRoot.js";

const BIN = path.join(repoRoot(), "bin/banger");
const cli = (args: string[], prefix: string[] = []) => {
  const argv = [...prefix, process.execPath, BIN, ...args];
  return spawnSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: "/nonexistent" },
  });
};

describe("banger sudoers", () => {
  it("prints exactly one line pinning the digest of the file --install writes", () => {
    const r = cli(["sudoers", "--user", "alice"]);
    assert.equal(r.status, 0, r.stderr);
    const bundle = readFileSync(path.join(repoRoot(), "dist/helper/banger-helper.mjs"), "utf8");
    const installed = `#!/usr/local/libexec/banger/node\n${bundle.slice(bundle.indexOf("\n") + 1)}`;
    const digest = createHash("sha256").update(installed).digest("hex");
    assert.equal(
      r.stdout,
      `alice ALL=(root) NOPASSWD:NOSETENV: sha256:${digest} /usr/local/libexec/banger/banger-helper\n`,
    );
    assert.doesNotMatch(r.stdout, /\bip\b|\bnft\b|ALL$/);
    const j = JSON.parse(cli(["sudoers", "--user", "alice", "--json"]).stdout) as { digest: string };
    assert.equal(j.digest, digest);
  });

  it("refuses a user name with metacharacters", () => {
    const r = cli(["sudoers", "--user", "a;b"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--user: "a;b" is not a user name/);
  });

  it("--install refuses without root, and an unknown user, writing nothing", {
    skip: process.getuid?.() !== 0 ? "needs root to drop to another uid" : false,
  }, () => {
    const before = existsSync(HELPER_INSTALL_DIR);
    const r = cli(
      ["sudoers", "--install", "--user", "nobody"],
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /needs root/);
    assert.match(r.stderr, /sudo .*sudoers --install --user nobody/);
    const u = cli(["sudoers", "--install", "--user", "no-such-user-bg"]);
    assert.notEqual(u.status, 0);
    assert.match(u.stderr, /no user "no-such-user-bg"/);
    assert.equal(existsSync(HELPER_INSTALL_DIR), before, "nothing installed");
    assert.ok(!existsSync("/etc/sudoers.d/banger-no-such-user-bg"));
  });
});
