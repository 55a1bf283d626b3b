import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { parseHost, remoteBangerCommand, sshArgv } from "./sshTransport.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-ssh-t-"));

function fakeBanger(file: string, tag: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\necho "${tag}" "$@"\n`);
  chmodSync(file, 0o755);
}

/** Run the remote line as the far side's sh would (ssh hands it to the login shell). */
function runRemote(line: string, env: Record<string, string>) {
  return spawnSync("/bin/sh", ["-c", line], { env, encoding: "utf8" });
}

describe("ssh transport", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("parses ssh://[user@]host[:port] and names a bad value", () => {
    assert.deepEqual(parseHost("ssh://me@box:2222"), { host: "box", user: "me", port: 2222 });
    assert.deepEqual(parseHost("ssh://box"), { host: "box" });
    assert.deepEqual(parseHost("ssh://[::1]:22"), { host: "::1", port: 22 });
    for (const bad of ["box", "ssh://", "ssh://a:0", "ssh://a:99999", "http://a", "ssh://a b"]) {
      assert.throws(
        () => parseHost(bad),
        (e: unknown) => isBangerError(e) && e.code === "USAGE" && e.message.includes(JSON.stringify(bad)),
      );
    }
  });

  it("ssh argv: -T for the bridge, -t for shells, the port, -- before the host", () => {
    const a = sshArgv({ user: "u", host: "h", port: 2222 }, ["system", "dial-stdio"], { tty: false });
    assert.deepEqual(a.slice(0, 6), ["-T", "-o", "ServerAliveInterval=15", "-p", "2222", "--"]);
    assert.equal(a[6], "u@h");
    assert.equal(sshArgv({ host: "h" }, ["vm", "ssh", "x"], { tty: true })[0], "-t");
  });

  it("the far side finds banger: BANGER_REMOTE_BIN, then PATH, then ~/.local/bin; args survive quoting", () => {
    const home = path.join(dir, "home");
    fakeBanger(path.join(home, ".local", "bin", "banger"), "local-bin");
    const env = { HOME: home, PATH: "/usr/bin:/bin" };
    const args = ["vm", "exec", "x", "--", "sh", "-c", "echo 'it''s' $HOME"];
    let r = runRemote(remoteBangerCommand(args, undefined, ['"$HOME/.local/bin/banger"']), env);
    assert.equal(r.stdout, `local-bin ${args.join(" ")}\n`, r.stderr);
    const pathDir = path.join(dir, "pathbin");
    fakeBanger(path.join(pathDir, "banger"), "on-path");
    r = runRemote(remoteBangerCommand(["version"]), { ...env, PATH: `${pathDir}:/usr/bin:/bin` });
    assert.equal(r.stdout, "on-path version\n");
    const chosen = path.join(dir, "my banger");
    fakeBanger(chosen, "chosen");
    r = runRemote(remoteBangerCommand(["version"], chosen), { ...env, PATH: `${pathDir}:/usr/bin:/bin` });
    assert.equal(r.stdout, "chosen version\n");
  });

  it("no banger on the far side: exit 127 and a message naming BANGER_REMOTE_BIN", () => {
    const r = runRemote(remoteBangerCommand(["version"], "/nonexistent/banger", []), {
      HOME: path.join(dir, "empty"),
      PATH: "/usr/bin:/bin",
    });
    assert.equal(r.status, 127);
    assert.match(r.stderr, /banger is not installed on .*set BANGER_REMOTE_BIN/);
  });
});
