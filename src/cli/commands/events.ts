import type { Command } from "commander";
import type { CliContext } from "../context.js";

/** `banger events`: VM state changes as they happen (JSON lines with --json), until interrupted. */
export function registerEvents(program: Command, ctx: () => CliContext): void {
  program
    .command("events")
    .description("print VM state changes as they happen (created, running, stopped, crashed, deleted...)")
    .option("--json", "one JSON object per line: {at, name, state, previous}")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const { Banger } = await import("../../sdk/Banger.js");
      const b = await Banger.connect({ env: c.env });
      const stop = new AbortController();
      const onSignal = () => stop.abort(new Error("interrupted"));
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        for await (const e of b.events({ signal: stop.signal })) {
          if (o.json) c.out.write(`${JSON.stringify(e)}\n`);
          else c.out.write(`${e.at} ${e.name} ${e.state}${e.previous ? ` (was ${e.previous})` : ""}\n`);
        }
      } catch (e) {
        if (!stop.signal.aborted) throw e;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        b.close();
      }
    });
}
