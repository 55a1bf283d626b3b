#!/usr/bin/env node
// Bundles the privileged helper (src/helper/entry.ts and what it imports) into
// ONE self-contained file, dist/helper/banger-helper.mjs, that imports only
// node: builtins. A sudoers digest pins one file: a helper that imported other
// (user-writable) files would be no boundary. esbuild does the bundling.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outfile = path.join(root, "dist", "helper", "banger-helper.mjs");
mkdirSync(path.dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [path.join(root, "src", "helper", "entry.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Anything not under node: would be resolved at run time from a path the user may write.
  external: [],
  banner: { js: "#!/usr/bin/env node" },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});
const foreign = Object.values(result.metafile.outputs)
  .flatMap((o) => o.imports)
  .filter((i) => i.external && !i.path.startsWith("node:"));
if (foreign.length > 0) {
  console.error(`banger-helper imports non-builtin modules: ${foreign.map((i) => i.path).join(", ")}`);
  process.exit(1);
}
