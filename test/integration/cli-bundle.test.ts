/**
 * bin/banger runs the bundled CLI (dist/cli, scripts/build-cli.mjs). It must
 * behave as the compiled modules in dist/src do, and `banger vm ...` must
 * load few files and none of the heavy packages.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { repoRoot } from "../helpers/repoRoot.js";
import { Sandbox } from "../helpers/sandbox.js";

const sandboxes: Sandbox[] = [];
after(async () => {
  for (const s of sandboxes) await s.cleanup();
});

const root = repoRoot();

describe("the bundled CLI", () => {
  test("bin/banger runs dist/cli, and says what dist/src says: output, errors, exit codes", async () => {
    assert.match(readFileSync(path.join(root, "bin", "banger"), "utf8"), /dist\/cli\/banger\.mjs/);
    const s = new Sandbox();
    sandboxes.push(s);
    const unbundled = path.join(root, "dist", "src", "bin", "banger.js");
    for (const args of [
      ["--help"],
      ["--version"],
      ["vm", "--help"],
      ["vm", "list", "--help"],
      ["vm", "lst"],
      ["vm", "list", "--bogus"],
      ["vm", "stop", "x", "--timeout", "1.5", "--json"],
      ["image", "--help"],
      ["mcp", "--help"],
      ["config", "show"],
      ["frobnicate"],
    ]) {
      const [a, b] = [await s.cli(args), await s.cli(args, { bin: unbundled })];
      assert.deepEqual(a, b, `banger ${args.join(" ")}`);
    }
    assert.equal(s.daemonPid(), null, "none of these started a daemon");
  });

  test("`vm list` loads 4 files of dist/cli, commander bundled, and no zod, MCP SDK, Ink or React", () => {
    const hook = `import { registerHooks } from "node:module";
registerHooks({ load(url, c, next) { process.stderr.write("LOAD " + url + "\\n"); return next(url, c); } });
process.on("exit", () => process.stderr.write("BUILTINS " + process.moduleLoadList.join(",") + "\\n"));`;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(hook)}`,
        path.join(root, "dist", "cli", "banger.mjs"),
        "vm",
        "list",
        "--bogus",
      ],
      { encoding: "utf8" },
    );
    // a usage error: everything `vm list` loads before it calls the daemon
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /unknown option '--bogus'/);
    const loaded = [...r.stderr.matchAll(/^LOAD (\S+)$/gm)].map((m) => m[1]!);
    const files = loaded.filter((u) => u.startsWith("file:"));
    assert.equal(files.filter((u) => u.includes("/dist/cli/")).length, 4, files.join("\n"));
    assert.deepEqual(
      files.filter((u) => !u.includes("/dist/cli/")),
      [],
      "nothing but the bundle's own files (no node_modules, no dist/src)",
    );
    const builtins = /^BUILTINS (.*)$/m.exec(r.stderr)?.[1]?.split(",") ?? [];
    assert.ok(builtins.includes("NativeModule net"), "the list of loaded built-ins was read");
    assert.ok(
      !builtins.includes("NativeModule child_process"),
      "child_process loads only when something is spawned",
    );
    assert.ok(
      !builtins.includes("NativeModule internal/fs/promises"),
      "fs/promises is not loaded for vm list",
    );
  });
});
