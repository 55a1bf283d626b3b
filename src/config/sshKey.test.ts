import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { FakeCommandRunner } from "../host/fake/FakeCommandRunner.js";
import { NodeCommandRunner } from "../host/node/NodeCommandRunner.js";
import { type Paths, resolvePaths } from "./paths.js";
import { ensureSshKey, resolveSshKeyPath } from "./sshKey.js";
import type { ResolvedConfig } from "./types.js";
import { validateConfig } from "./validate.js";

let tmp: string;
let paths: Paths;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "banger-config-ssh-"));
  paths = resolvePaths({ HOME: tmp });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function config(sshKeyPath?: string): ResolvedConfig {
  const raw = sshKeyPath === undefined ? {} : { ssh_key_path: sshKeyPath };
  const { config: cfg, problems } = validateConfig(raw, { HOME: tmp });
  assert.deepEqual(problems, []);
  assert.ok(cfg);
  return cfg;
}

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<BangerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return e;
  }
  assert.fail("expected a rejection");
}

describe("resolveSshKeyPath", () => {
  it("the managed key lives in sshDir", () => {
    assert.deepEqual(resolveSshKeyPath(config(), paths), {
      path: path.join(paths.sshDir, "id_ed25519"),
      managed: true,
    });
  });
  it("a configured key wins, ~ expanded", () => {
    assert.deepEqual(resolveSshKeyPath(config("~/.ssh/work"), paths), {
      path: path.join(tmp, ".ssh/work"),
      managed: false,
    });
  });
});

describe("ensureSshKey: managed key", () => {
  it("generates a real ed25519 key on first use, then reuses it", async () => {
    const key = await ensureSshKey(config(), paths, new NodeCommandRunner());
    assert.equal(key.generated, true);
    assert.equal(key.managed, true);
    assert.equal(key.privateKey, path.join(paths.sshDir, "id_ed25519"));
    assert.equal(await mode(paths.sshDir), 0o700);
    assert.equal(await mode(key.privateKey), 0o600);
    const priv = await readFile(key.privateKey, "utf8");
    assert.ok(priv.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n"), priv.slice(0, 40));
    assert.match(key.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ banger$/);
    assert.equal((await readFile(`${key.privateKey}.pub`, "utf8")).trim(), key.publicKey);

    const fake = new FakeCommandRunner();
    const again = await ensureSshKey(config(), paths, fake);
    assert.equal(again.generated, false);
    assert.equal(again.publicKey, key.publicKey);
    assert.deepEqual(fake.calls, [], "an existing key runs no command");
  });

  it("runs ssh-keygen with the documented argv", async () => {
    const sshDir = path.join(tmp, "fake-state", "ssh");
    const p = { ...paths, sshDir };
    const fake = new FakeCommandRunner().on(["ssh-keygen", "-t"], (argv) => {
      const f = argv[argv.indexOf("-f") + 1] ?? "";
      writeFileSync(f, "PRIVATE\n");
      writeFileSync(`${f}.pub`, "ssh-ed25519 AAAA banger\n");
      return {};
    });
    const key = await ensureSshKey(config(), p, fake);
    const keyPath = path.join(sshDir, "id_ed25519");
    // Generated beside its place, then linked in (see the concurrency test below).
    assert.equal(fake.calls.length, 1);
    const argv = fake.calls[0]!;
    assert.deepEqual(argv.slice(0, 8), ["ssh-keygen", "-t", "ed25519", "-N", "", "-C", "banger", "-f"]);
    assert.ok(argv[8]!.startsWith(`${keyPath}.tmp-`), argv[8]);
    assert.equal(argv[9], "-q");
    assert.equal(key.publicKey, "ssh-ed25519 AAAA banger");
    assert.equal(await mode(keyPath), 0o600);
    assert.deepEqual((await readdir(sshDir)).sort(), ["id_ed25519", "id_ed25519.pub"]);
  });

  it("concurrent first uses make one key that all of them return", async () => {
    const p = { ...paths, sshDir: path.join(tmp, "racing", "ssh") };
    const keys = await Promise.all(
      Array.from({ length: 8 }, () => ensureSshKey(config(), p, new NodeCommandRunner())),
    );
    assert.equal(keys.filter((k) => k.generated).length, 1, "exactly one generated it");
    assert.equal(new Set(keys.map((k) => k.publicKey)).size, 1, "all return the same key");
    assert.deepEqual(
      (await readdir(p.sshDir)).sort(),
      ["id_ed25519", "id_ed25519.pub"],
      "no temp files left",
    );
    assert.equal((await readFile(path.join(p.sshDir, "id_ed25519.pub"), "utf8")).trim(), keys[0]!.publicKey);
  });

  it("re-derives a lost .pub of the managed key and writes it", async () => {
    const sshDir = path.join(tmp, "lost-pub", "ssh");
    await mkdir(sshDir, { recursive: true, mode: 0o755 });
    const keyPath = path.join(sshDir, "id_ed25519");
    await writeFile(keyPath, "PRIVATE\n", { mode: 0o644 });
    const fake = new FakeCommandRunner().on(["ssh-keygen", "-y"], { stdout: "ssh-ed25519 BBBB banger\n" });
    const key = await ensureSshKey(config(), { ...paths, sshDir }, fake);
    assert.equal(key.generated, false);
    assert.deepEqual(fake.calls, [["ssh-keygen", "-y", "-P", "", "-f", keyPath]]);
    assert.equal(await readFile(`${keyPath}.pub`, "utf8"), "ssh-ed25519 BBBB banger\n");
    assert.equal(await mode(sshDir), 0o700, "the directory is tightened");
    assert.equal(await mode(keyPath), 0o600, "the key is tightened");
  });
});

describe("ensureSshKey: user key", () => {
  it("a configured key that does not exist is an error, never generated", async () => {
    const missing = path.join(tmp, "nope", "id_ed25519");
    const fake = new FakeCommandRunner();
    const e = await rejectsWith(
      ensureSshKey(config(missing), paths, fake),
      ErrorCodes.CONFIG_INVALID,
      new RegExp(`ssh_key_path .*${missing}, which does not exist`),
    );
    assert.match(e.hint ?? "", /ssh-keygen -t ed25519 -f .*or remove ssh_key_path/);
    assert.deepEqual(fake.calls, []);
  });

  it("a configured path that is a directory is an error", async () => {
    await rejectsWith(
      ensureSshKey(config(tmp), paths, new FakeCommandRunner()),
      ErrorCodes.CONFIG_INVALID,
      /is not a file/,
    );
  });

  it("uses the .pub beside a configured key", async () => {
    const keyPath = path.join(tmp, "user1");
    await writeFile(keyPath, "PRIVATE\n", { mode: 0o600 });
    await writeFile(`${keyPath}.pub`, "ssh-ed25519 CCCC me@host\n");
    const fake = new FakeCommandRunner();
    const key = await ensureSshKey(config(keyPath), paths, fake);
    assert.deepEqual(key, {
      privateKey: keyPath,
      publicKey: "ssh-ed25519 CCCC me@host",
      generated: false,
      managed: false,
    });
    assert.deepEqual(fake.calls, []);
  });

  it("derives a missing .pub with ssh-keygen -y, without writing it", async () => {
    const keyPath = path.join(tmp, "user2");
    await writeFile(keyPath, "PRIVATE\n", { mode: 0o600 });
    const fake = new FakeCommandRunner().on(["ssh-keygen", "-y"], { stdout: "ssh-ed25519 DDDD me@host\n" });
    const key = await ensureSshKey(config(keyPath), paths, fake);
    assert.equal(key.publicKey, "ssh-ed25519 DDDD me@host");
    assert.deepEqual(fake.calls, [["ssh-keygen", "-y", "-P", "", "-f", keyPath]]);
    await assert.rejects(stat(`${keyPath}.pub`), { code: "ENOENT" });
  });

  it("a key whose public half cannot be derived is an error with a hint", async () => {
    const keyPath = path.join(tmp, "user3");
    await writeFile(keyPath, "PRIVATE\n", { mode: 0o600 });
    const fake = new FakeCommandRunner().on(["ssh-keygen", "-y"], {
      code: 255,
      stderr: "incorrect passphrase",
    });
    const e = await rejectsWith(
      ensureSshKey(config(keyPath), paths, fake),
      ErrorCodes.CONFIG_INVALID,
      /cannot derive the public key of ssh_key_path/,
    );
    assert.match(e.hint ?? "", new RegExp(`${keyPath}\\.pub`));
  });
});
