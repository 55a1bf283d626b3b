import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { CliContext } from "./context.js";
import { buildProgram, commandOf, subcommandOf, takeHostOption } from "./main.js";

const noCtx = (): CliContext => {
  throw new Error("no context in this test");
};

describe("CLI command table", () => {
  it("finds the command a command line runs, skipping options before it", () => {
    assert.equal(commandOf(["vm", "list"]), "vm");
    assert.equal(commandOf(["--json", "daemon", "status"]), "daemon");
    assert.equal(commandOf(["ssh-config"]), "ssh-config");
    assert.equal(commandOf(["--help"]), undefined);
    assert.equal(commandOf(["bogus", "x"]), undefined);
    assert.equal(commandOf([]), undefined);
  });

  it("registers only the command that runs, and every command for help or a typo", async () => {
    const one = await buildProgram(noCtx, null, "vm");
    assert.deepEqual(
      one.commands.map((c) => c.name()),
      ["vm"],
    );
    const all = await buildProgram(noCtx);
    assert.deepEqual(
      all.commands.map((c) => c.name()),
      [
        "vm",
        "image",
        "kernel",
        "ssh-config",
        "daemon",
        "doctor",
        "config",
        "version",
        "tui",
        "sudoers",
        "events",
        "mcp",
        "system",
      ],
    );
    assert.ok(one.commands[0]?.commands.some((c) => c.name() === "list"));
  });

  it("registers only the vm subcommand that runs; help, options first or an unknown word get all, in help order", async () => {
    assert.equal(subcommandOf(["vm", "list"], "vm"), "list");
    assert.equal(subcommandOf(["vm", "ls", "--json"], "vm"), "ls");
    assert.equal(subcommandOf(["vm", "list", "--help"], "vm"), undefined);
    assert.equal(subcommandOf(["vm", "-h"], "vm"), undefined);
    assert.equal(subcommandOf(["vm"], "vm"), undefined);
    assert.equal(subcommandOf(["--json", "vm", "list"], "vm"), undefined);
    assert.equal(subcommandOf(["bogus", "list"], undefined), undefined);
    const subs = async (sub?: string) =>
      (await buildProgram(noCtx, null, "vm", sub)).commands[0]!.commands.map((c) => c.name());
    const all = await subs();
    assert.deepEqual(all, [
      "create",
      "run",
      "egress",
      "exec",
      "cp",
      "ports",
      "health",
      "stats",
      "start",
      "restart",
      "stop",
      "pause",
      "resume",
      "suspend",
      "fork",
      "delete",
      "list",
      "show",
      "logs",
      "ssh",
    ]);
    assert.deepEqual(await subs("list"), ["list"]);
    assert.deepEqual(await subs("ls"), ["list"]);
    assert.deepEqual(await subs("restart"), ["start", "restart"]);
    assert.deepEqual(await subs("lst"), all, "a typo gets every subcommand, for commander's suggestion");
    assert.deepEqual(await subs("help"), all);
  });

  it("read commands load neither zod nor the MCP SDK; `mcp` loads them only when it runs", () => {
    const main = fileURLToPath(new URL("./main.js", import.meta.url));
    const hook = `import { registerHooks } from "node:module";
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (/node_modules[/](zod|@modelcontextprotocol)[/]/.test(r.url)) console.log("LOADED " + r.url); return r; } });`;
    const loads = (command: string) => {
      const code = `const { buildProgram } = await import(${JSON.stringify(main)}); await buildProgram(() => null, null, ${JSON.stringify(command)}); console.log("ok");`;
      const r = spawnSync(
        process.execPath,
        ["--import", `data:text/javascript,${encodeURIComponent(hook)}`, "-e", code],
        {
          encoding: "utf8",
        },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    for (const c of ["vm", "events", "mcp", "image"]) assert.equal(loads(c), "ok", `registering ${c}`);
  });
});

describe("--host", () => {
  it("is taken out of argv before the command, in both spellings", () => {
    assert.deepEqual(takeHostOption(["--host", "ssh://a", "vm", "list"]), {
      argv: ["vm", "list"],
      host: "ssh://a",
    });
    assert.deepEqual(takeHostOption(["--host=ssh://b", "vm", "ls"]), { argv: ["vm", "ls"], host: "ssh://b" });
    assert.deepEqual(takeHostOption(["vm", "exec", "x", "--", "--host", "y"]), {
      argv: ["vm", "exec", "x", "--", "--host", "y"],
    });
  });
});
