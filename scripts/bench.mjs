#!/usr/bin/env node
// Runs every benchmark in bench/ (build first: `npm run build`).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "bench");
let failed = 0;
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith(".mjs"))
  .sort()) {
  const r = spawnSync(process.execPath, [path.join(dir, f), ...process.argv.slice(2)], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
