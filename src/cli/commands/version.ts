import type { Command } from "commander";
import { buildInfo } from "../../buildInfo.js";
import type { CliContext } from "../context.js";
import { relationTo, tryConnect } from "../daemonControl.js";
import { json } from "../render/output.js";

const VERSION_NOTES = {
  same: "",
  older: " — an older build; the next command replaces it",
  newer: " — a newer build; this banger uses it as it is",
  unordered: " — another build of the same version and time; used as it is",
};

export function registerVersion(program: Command, ctx: () => CliContext): void {
  program
    .command("version")
    .description("print the CLI's version and build, and the running daemon's (without starting it)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const b = buildInfo();
      const d = await tryConnect(c.paths);
      d?.client.close();
      const daemon = d ? { version: d.ping.version, buildId: d.ping.buildId, pid: d.ping.pid } : null;
      if (o.json) return json(c.out, { cli: b, node: process.version, daemon });
      c.out.write(`banger ${b.version} (build ${b.buildId})\n`);
      c.out.write(
        daemon
          ? `bangerd ${daemon.version} (build ${daemon.buildId}, pid ${daemon.pid})${VERSION_NOTES[relationTo(d!.ping, b)]}\n`
          : "bangerd not running\n",
      );
    });
}
