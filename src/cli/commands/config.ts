import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { json, table } from "../render/output.js";

function show(v: unknown): string {
  if (v === null || v === undefined) return "(unset)";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function registerConfig(program: Command, ctx: () => CliContext): void {
  const cfg = program.command("config").description("inspect configuration");
  cfg
    .command("show")
    .description("print the resolved configuration with the source of each value")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const { configShowRows, loadConfig } = await import("../../config/index.js");
      const resolved = await loadConfig(c.paths, c.env);
      const rows = configShowRows(resolved);
      if (o.json)
        return json(c.out, { file: c.paths.configFile, exists: resolved.file !== null, values: rows });
      c.out.write(`# ${c.paths.configFile}${resolved.file ? "" : " (not present: all defaults)"}\n`);
      c.out.write(table([["KEY", "VALUE", "SOURCE"], ...rows.map((r) => [r.key, show(r.value), r.source])]));
    });
}
