import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { Ext4DiskManager } from "./Ext4DiskManager.js";

/** Split a debugfs request line into words ("" groups, "" inside quotes is a quote). */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"]|"")*)"|(\S+)/g)].map((m) => (m[1] ?? m[2] ?? "").replace(/""/g, '"'));
}

/**
 * A tiny debugfs: answers `stat` and `dump` from `fs` (path -> type and
 * content), captures write scripts (and the content files they name) before
 * the temp dir goes away.
 */
class FakeDebugfs {
  readonly runner = new FakeCommandRunner();
  readonly scripts: string[][] = [];
  readonly contents = new Map<string, string>();
  writeStderr = "";

  constructor(readonly fs: Map<string, { type: string; content?: string }>) {
    this.runner.on(["debugfs", "-w", "-f"], (argv) => {
      const lines = readFileSync(argv[3]!, "utf8").trimEnd().split("\n");
      this.scripts.push(lines);
      for (const l of lines) {
        const [cmd, host, target] = words(l);
        if (cmd === "write") this.contents.set(target!, readFileSync(host!, "utf8"));
      }
      const stderr = lines
        .filter((l) => l.startsWith("stat /.banger-file-"))
        .map((l) => `${words(l)[1]}: File not found by ext2_lookup \n`)
        .join("");
      return { stderr: `debugfs 1.47.0 (5-Feb-2023)\n${stderr}${this.writeStderr}` };
    });
    this.runner.on(["debugfs", "-f"], (argv) =>
      this.query(readFileSync(argv[2]!, "utf8").trimEnd().split("\n")),
    );
  }

  private query(lines: string[]): { stdout: string; stderr: string } {
    let stdout = "";
    let stderr = "debugfs 1.47.0 (5-Feb-2023)\n";
    for (const l of lines) {
      stdout += `debugfs: ${l}\n`;
      const [cmd, p, out] = words(l);
      const f = this.fs.get(p!);
      if (!f) stderr += `${p}: File not found by ext2_lookup \n`;
      else if (cmd === "stat") stdout += `Inode: 12   Type: ${f.type}    Mode:  0644   Flags: 0x80000\n`;
      else if (cmd === "dump") writeFileSync(out!, f.content ?? "");
    }
    return { stdout, stderr };
  }
}

let dir: string;
let img: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bgdebugfs-"));
  img = path.join(dir, "work.ext4");
  writeFileSync(img, "");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const manager = (d: FakeDebugfs) => new Ext4DiskManager({ runner: d.runner, tmpDir: dir });

describe("Ext4DiskManager.writeWorkFiles", () => {
  it("writes a nested path with spaces: mkdir 0700 parents, write, mode/uid/gid, in one debugfs run", async () => {
    const d = new FakeDebugfs(new Map([["/my dir", { type: "directory" }]]));
    await manager(d).writeWorkFiles(img, [
      { path: "my dir/sub dir/key file", content: "ssh-ed25519 AAAA", mode: 0o600 },
    ]);
    assert.equal(d.scripts.length, 1);
    const [marker, ...rest] = d.scripts[0]!;
    assert.match(marker!, /^stat \/\.banger-file-[0-9a-f]{12}-0$/);
    const host = words(rest.find((l) => l.startsWith("write "))!)[1]!;
    assert.ok(host.startsWith(path.join(dir, "banger-debugfs-")));
    assert.deepEqual(rest, [
      'mkdir "/my dir/sub dir"',
      'sif "/my dir/sub dir" mode 040700',
      'sif "/my dir/sub dir" uid 0',
      'sif "/my dir/sub dir" gid 0',
      `write ${host} "/my dir/sub dir/key file"`,
      'sif "/my dir/sub dir/key file" mode 0100600',
      'sif "/my dir/sub dir/key file" uid 0',
      'sif "/my dir/sub dir/key file" gid 0',
    ]);
    assert.equal(d.contents.get("/my dir/sub dir/key file"), "ssh-ed25519 AAAA");
    assert.deepEqual(readdirSync(dir), ["work.ext4"], "the private temp dir is removed");
  });

  it("looks up parents and targets first (read-only), removes an existing target before writing", async () => {
    const d = new FakeDebugfs(
      new Map([
        ["/.ssh", { type: "directory" }],
        ["/.ssh/authorized_keys", { type: "regular" }],
      ]),
    );
    await manager(d).writeWorkFiles(img, [
      { path: ".ssh/authorized_keys", content: "k", mode: 0o600 },
      { path: "./bin/run.sh", content: "#!/bin/sh\n", mode: 0o755, uid: 1000, gid: 1000 },
    ]);
    const query = d.runner.calls.find((c) => c[1] === "-f")!;
    assert.deepEqual(query.slice(0, 2), ["debugfs", "-f"]);
    assert.equal(query.at(-1), img);
    const script = d.scripts[0]!.filter((l) => !l.startsWith("stat "));
    assert.equal(script[0], "rm /.ssh/authorized_keys");
    assert.ok(!script.some((l) => l === "mkdir /.ssh"));
    assert.ok(script.includes("mkdir /bin"));
    assert.ok(script.includes("sif /bin/run.sh mode 0100755"));
    assert.ok(script.includes("sif /bin/run.sh uid 1000"));
    assert.equal(d.runner.calls.filter((c) => c[1] === "-w").length, 1);
  });

  it("turns 'write: Could not allocate block' on stderr into an error naming the file", async () => {
    const d = new FakeDebugfs(new Map());
    d.writeStderr = "write: Could not allocate block in ext2 filesystem \n";
    await assert.rejects(
      manager(d).writeWorkFiles(img, [{ path: "big.bin", content: "x", mode: 0o644 }]),
      (e) => {
        assert.ok(isBangerError(e));
        assert.equal(e.code, "COMMAND_FAILED");
        assert.match(e.message, /big\.bin: write: Could not allocate block in ext2 filesystem/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir), ["work.ext4"]);
  });

  it("rejects `..`, absolute paths, NUL, bad modes and a directory in the way, running nothing for bad paths", async () => {
    const d = new FakeDebugfs(
      new Map([
        ["/d", { type: "directory" }],
        ["/f", { type: "regular" }],
      ]),
    );
    const m = manager(d);
    for (const p of ["../x", "a/../../x", "/etc/passwd", "a\0b", "a\nb", "", "."]) {
      await assert.rejects(m.writeWorkFiles(img, [{ path: p, content: "", mode: 0o600 }]), /INVALID|invalid/);
    }
    await assert.rejects(m.writeWorkFiles(img, [{ path: "x", content: "", mode: 0o10000 }]), /mode of x/);
    assert.deepEqual(d.runner.calls, []);
    await assert.rejects(
      m.writeWorkFiles(img, [{ path: "d", content: "", mode: 0o600 }]),
      /\/d exists and is a directory/,
    );
    await assert.rejects(
      m.writeWorkFiles(img, [{ path: "f/x", content: "", mode: 0o600 }]),
      /\/f exists and is a regular, not a directory/,
    );
  });

  it("does nothing for no files; a missing work disk is NOT_FOUND", async () => {
    const d = new FakeDebugfs(new Map());
    await manager(d).writeWorkFiles(img, []);
    assert.deepEqual(d.runner.calls, []);
    await assert.rejects(
      manager(d).writeWorkFiles(path.join(dir, "nope.ext4"), [{ path: "a", content: "", mode: 0o600 }]),
      (e) => isBangerError(e) && e.code === "NOT_FOUND",
    );
  });
});

describe("Ext4DiskManager.readWorkFile", () => {
  it("dumps a regular file; null when absent; refuses a directory", async () => {
    const d = new FakeDebugfs(
      new Map([
        ["/.ssh", { type: "directory" }],
        ["/.ssh/authorized_keys", { type: "regular", content: "key\n" }],
      ]),
    );
    const m = manager(d);
    assert.equal((await m.readWorkFile(img, ".ssh/authorized_keys"))?.toString(), "key\n");
    assert.equal(await m.readWorkFile(img, ".ssh/nope"), null);
    await assert.rejects(m.readWorkFile(img, ".ssh"), /is a directory, not a regular file/);
    await assert.rejects(m.readWorkFile(img, "../etc/shadow"), /must not contain '\.\.'/);
    assert.deepEqual(readdirSync(dir), ["work.ext4"]);
  });
});
