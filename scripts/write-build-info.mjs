#!/usr/bin/env node
// Writes dist/build-info.json: the package version, the build time, and a build
// id that is the sha256 of every compiled file under dist/src. The id tells two
// builds apart; version then build time order them (src/buildInfo.ts,
// compareBuilds): a CLI replaces a running daemon only when that daemon is older.
// SOURCE_DATE_EPOCH (reproducible builds) fixes the build time when set.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "dist", "src");
const files = [];
(function walk(d) {
  for (const n of readdirSync(d).sort()) {
    const p = path.join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith(".js") && !n.endsWith(".test.js")) files.push(p);
  }
})(src);
const h = createHash("sha256");
for (const f of files) {
  h.update(path.relative(src, f));
  h.update("\0");
  h.update(readFileSync(f));
}
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const info = {
  version: pkg.version,
  buildId: h.digest("hex").slice(0, 16),
  builtAt: (process.env.SOURCE_DATE_EPOCH
    ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000)
    : new Date()
  ).toISOString(),
};
writeFileSync(path.join(root, "dist", "build-info.json"), `${JSON.stringify(info, null, 2)}\n`);
console.log(`build ${info.version} ${info.buildId} ${info.builtAt}`);
