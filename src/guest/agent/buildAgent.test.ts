import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { AGENT_CFLAGS, AGENT_SOURCE_FILES, AGENT_SOURCE_PATH, agentHash, buildAgent } from "./buildAgent.js";
import { packageRoot } from "./paths.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "banger-build-agent-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake gcc that writes the -o file. */
function fakeGcc(): FakeCommandRunner {
  return new FakeCommandRunner().on(["gcc"], (argv) => {
    writeFileSync(argv[argv.indexOf("-o") + 1]!, "ELF");
    return { code: 0 };
  });
}

describe("packageRoot and AGENT_SOURCE_PATH", () => {
  it("find banger's package root and the agent's C source in it", () => {
    const root = packageRoot();
    assert.equal(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).name, "banger");
    assert.equal(AGENT_SOURCE_PATH, path.join(root, "data", "guest", "banger-agent.c"));
    assert.ok(existsSync(AGENT_SOURCE_PATH));
  });

  it("lists every file of the agent's source in data/guest, and no C file of it is left out", () => {
    const dir = path.dirname(AGENT_SOURCE_PATH);
    for (const f of AGENT_SOURCE_FILES) assert.ok(existsSync(f), f);
    const onDisk = readdirSync(dir).filter((f) => /^banger-agent.*\.[ch]$/.test(f));
    assert.deepEqual([...onDisk].sort(), AGENT_SOURCE_FILES.map((f) => path.basename(f)).sort());
  });

  it("falls back to four levels up from a directory outside any banger package", () => {
    assert.equal(packageRoot("/a/b/c/d/e"), "/a");
  });
});

describe("buildAgent", () => {
  it("compiles statically into outDir, then reuses the build while the source is unchanged", async () => {
    const outDir = path.join(dir, "out1");
    const source = path.join(dir, "agent1.c");
    await writeFile(source, "int main(void) { return 0; }\n");
    const runner = fakeGcc();
    const bin = await buildAgent({ runner, outDir, sources: [source] });
    assert.equal(bin, path.join(outDir, "banger-agent"));
    const tmp = runner.calls[0]![AGENT_CFLAGS.length + 2]!;
    assert.deepEqual(runner.calls, [["gcc", ...AGENT_CFLAGS, "-o", tmp, source]]);
    assert.equal(path.dirname(tmp), outDir, "built beside the target, then renamed into place");
    assert.ok(AGENT_CFLAGS.includes("-static"));
    assert.equal((await readFile(`${bin}.sha256`, "utf8")).trim(), agentHash(await readFile(source)));

    await buildAgent({ runner, outDir, sources: [source] });
    assert.equal(runner.calls.length, 1, "reused");
    await writeFile(source, "int main(void) { return 1; }\n");
    await buildAgent({ runner, outDir, sources: [source] });
    assert.equal(runner.calls.length, 2, "rebuilt after the source changed");
  });

  it("compiles the .c files together; a header keys the cache but is not on the command line", async () => {
    const outDir = path.join(dir, "out4");
    const [h, a, b] = ["x.h", "a.c", "b.c"].map((f) => path.join(dir, f)) as [string, string, string];
    await writeFile(h, "#define X 1\n");
    await writeFile(a, '#include "x.h"\nint main(void) { return X; }\n');
    await writeFile(b, "int b(void) { return 2; }\n");
    const runner = fakeGcc();
    await buildAgent({ runner, outDir, sources: [h, a, b] });
    assert.deepEqual(runner.calls[0]!.slice(-2), [a, b]);
    assert.ok(!runner.calls[0]!.includes(h));
    await writeFile(h, "#define X 2\n");
    await buildAgent({ runner, outDir, sources: [h, a, b] });
    assert.equal(runner.calls.length, 2, "rebuilt after the header changed");
  });

  it("the default build compiles every .c file of the agent", async () => {
    const runner = fakeGcc();
    await buildAgent({ runner, outDir: path.join(dir, "out5") });
    const cFiles = AGENT_SOURCE_FILES.filter((f) => f.endsWith(".c"));
    assert.deepEqual(runner.calls[0]!.slice(-cFiles.length), cFiles);
  });

  it("says how to install gcc when it is missing", async () => {
    const runner = new FakeCommandRunner().on(
      ["gcc"],
      new BangerError(ErrorCodes.PREFLIGHT_FAILED, "gcc is not installed or not on PATH"),
    );
    await assert.rejects(buildAgent({ runner, outDir: path.join(dir, "out2") }), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, ErrorCodes.PREFLIGHT_FAILED);
      assert.match(e.message, /gcc is not installed: cannot build the guest agent/);
      assert.match(e.hint ?? "", /apt-get install gcc libc6-dev/);
      return true;
    });
  });

  it("reports compiler errors, with the libc6-dev hint when the static libc is missing", async () => {
    const runner = new FakeCommandRunner().on(["gcc"], {
      code: 1,
      stderr:
        "/usr/bin/ld: cannot find -lc: No such file or directory\ncollect2: error: ld returned 1 exit status\n",
    });
    const outDir = path.join(dir, "out3");
    await assert.rejects(buildAgent({ runner, outDir }), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, ErrorCodes.COMMAND_FAILED);
      assert.match(e.message, /compiling the guest agent failed \(gcc exited 1\): .*cannot find -lc/s);
      assert.match(e.hint ?? "", /libc6-dev/);
      return true;
    });
    assert.ok(!existsSync(path.join(outDir, "banger-agent")));
  });

  it("a missing source is NOT_FOUND", async () => {
    await assert.rejects(
      buildAgent({ runner: fakeGcc(), outDir: dir, sources: [path.join(dir, "nope.c")] }),
      (e: unknown) => isBangerError(e) && e.code === ErrorCodes.NOT_FOUND,
    );
  });
});
