import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { json } from "../render/output.js";

export function registerSshConfig(program: Command, ctx: () => CliContext): void {
  program
    .command("ssh-config")
    .description(
      "print banger's ssh_config (Host NAME.vm entries with pinned host keys) and the Include line for ~/.ssh/config",
    )
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      // Ask the daemon so the file is current (it rewrites it on every create, start and delete).
      await c.daemon();
      const file = path.join(c.paths.sshDir, "ssh_config");
      const text = await readFile(file, "utf8").catch(() => null);
      const include = `Include ${file}`;
      if (o.json) return json(c.out, { file, include, content: text });
      if (text === null) {
        c.out.write(`# ${file} does not exist yet: it is written when the first VM is created.\n`);
      } else {
        c.out.write(text);
      }
      c.out.write(
        `\n# To use it from any terminal (ssh NAME.vm), add this line at the top of ~/.ssh/config:\n${include}\n`,
      );
      c.out.write("# banger never edits your ssh config itself.\n");
    });
}
