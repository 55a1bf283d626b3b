import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { describeProblems, loadConfig, parseConfigToml } from "./load.js";
import { type Paths, resolvePaths } from "./paths.js";

let tmp: string;
let paths: Paths;
let env: Record<string, string>;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "banger-config-load-"));
  env = { HOME: tmp };
  paths = resolvePaths(env);
  await mkdir(paths.configDir, { recursive: true });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function writeConfig(text: string): Promise<void> {
  await writeFile(paths.configFile, text);
}

async function loadError(e: Record<string, string> = env): Promise<BangerError> {
  try {
    await loadConfig(paths, e);
  } catch (err) {
    assert.ok(err instanceof BangerError, `expected a BangerError, got ${String(err)}`);
    return err;
  }
  assert.fail("loadConfig should have thrown");
}

describe("loadConfig", () => {
  it("a missing file means all defaults and file: null", async () => {
    await rm(paths.configFile, { force: true });
    const cfg = await loadConfig(paths, env);
    assert.equal(cfg.file, null);
    assert.deepEqual(cfg.network.subnet, {
      value: `172.30.${(process.getuid?.() ?? 0) % 256}.0/24`,
      source: "default",
    });
  });

  it("reads a valid file and names it", async () => {
    await writeConfig('vmm = "qemu"\n[[file_sync]]\nhost = "~/.gitconfig"\nguest = "~/.gitconfig"\n');
    const cfg = await loadConfig(paths, env);
    assert.equal(cfg.file, paths.configFile);
    assert.deepEqual(cfg.vmm, { value: "qemu", source: "config" });
    assert.deepEqual(cfg.file_sync.value, [
      { host: path.join(tmp, ".gitconfig"), guest: "/root/.gitconfig", mode: null },
    ]);
  });

  it("applies environment overrides", async () => {
    await writeConfig('vmm = "qemu"\n');
    const cfg = await loadConfig(paths, { ...env, BANGER_VMM: "firecracker" });
    assert.deepEqual(cfg.vmm, { value: "firecracker", source: "env" });
  });

  it("a UTF-8 BOM is tolerated", async () => {
    await writeConfig('\uFEFFlog_level = "warn"\n');
    assert.equal((await loadConfig(paths, env)).log_level.value, "warn");
  });

  it("a TOML syntax error names the file, line and column", async () => {
    await writeConfig('log_level = "info"\nvmm = = "qemu"\n');
    const e = await loadError();
    assert.equal(e.code, ErrorCodes.CONFIG_INVALID);
    assert.match(
      e.message,
      new RegExp(`^${paths.configFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2:7: invalid TOML`),
    );
    assert.match(e.message, /vmm = = "qemu"/, "the message shows the offending line");
    assert.match(e.hint ?? "", /line 2, column 7/);
    assert.deepEqual(e.details, { file: paths.configFile, line: 2, column: 7 });
  });

  it("two bad file_sync entries are one error naming both", async () => {
    await writeConfig(
      '[[file_sync]]\nhost = "~/a"\nguest = "/etc/a"\n[[file_sync]]\nhost = "/b"\nguest = "~/b"\nmode = "0999"\n',
    );
    const e = await loadError();
    assert.equal(e.code, ErrorCodes.CONFIG_INVALID);
    assert.match(
      e.message,
      /^config\.toml has 2 problems:\n {2}file_sync\[0\]\.guest: .*outside \/root.*\n {2}file_sync\[1\]\.mode: .*not an octal file mode/,
    );
    assert.ok(e.hint?.includes(`edit ${paths.configFile}`), e.hint);
    assert.deepEqual(
      (e.details as Array<{ path: string }>).map((p) => p.path),
      ["file_sync[0].guest", "file_sync[1].mode"],
    );
  });

  it("one problem is singular, and env problems name the variable in the hint", async () => {
    await writeConfig('log_levl = "info"\n');
    const e = await loadError({ ...env, BANGER_VMM: "kvm" });
    assert.match(e.message, /^config\.toml has 2 problems:/);
    assert.match(e.hint ?? "", /edit .*config\.toml, and fix or unset BANGER_VMM/);
    await rm(paths.configFile);
    const e2 = await loadError({ ...env, BANGER_VMM: "kvm" });
    assert.match(e2.message, /^banger's environment has 1 problem:\n {2}BANGER_VMM \(env\): /);
    assert.doesNotMatch(e2.hint ?? "", /edit/);
  });

  it("any other read error is reported as it is, with the path", async () => {
    await rm(paths.configFile, { force: true });
    await mkdir(paths.configFile);
    try {
      const e = await loadError();
      assert.equal(e.code, ErrorCodes.CONFIG_INVALID);
      assert.ok(e.message.startsWith(`cannot read ${paths.configFile}: EISDIR`), e.message);
    } finally {
      await rm(paths.configFile, { recursive: true });
    }
  });
});

describe("parseConfigToml / describeProblems", () => {
  it("parses TOML and rethrows nothing else", () => {
    assert.deepEqual({ ...(parseConfigToml('a = "b"', "/c.toml") as object) }, { a: "b" });
  });
  it("formats problems", () => {
    const { message, hint } = describeProblems([{ path: "vmm", message: "bad" }], "/x/config.toml");
    assert.equal(message, "config.toml has 1 problem:\n  vmm: bad");
    assert.match(hint, /^edit \/x\/config\.toml/);
  });
});
