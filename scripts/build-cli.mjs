#!/usr/bin/env node
// Bundles the CLI (src/bin/banger.ts and the modules it imports) into
// dist/cli/, which bin/banger runs: loading a few bundled files costs Node far
// less than resolving ~40 separate modules (each a package.json scope lookup,
// a stat and a read) on every `banger` run. ESM with code splitting: every
// command module stays its own chunk, imported only when its command runs, so
// `banger vm list` never loads zod, the MCP SDK or Ink/React.
// The packages other than commander stay external (resolved from node_modules
// as in dist/src); the daemon and the SDK keep running from dist/src (tsc).
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "cli");
const pkg = JSON.parse(await readFile(path.join(root, "package.json"), "utf8"));
// commander is on every command's path: bundled. The rest is loaded only by the commands that need it.
const external = Object.keys(pkg.dependencies).filter((d) => d !== "commander");

/**
 * commander requires node:child_process at load time but uses it only for
 * git-style external subcommands, which banger has none of: hand it a stand-in
 * that loads the real module on first use (it costs ~2 ms of every start).
 */
const lazyChildProcess = {
  name: "lazy-child-process",
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes(`${path.sep}node_modules${path.sep}commander${path.sep}`)
        ? { path: "lazy-child-process", namespace: "banger-shim" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "banger-shim" }, () => ({
      contents:
        'let real;\nconst load = () => (real ??= require("node:child_process"));\n' +
        "module.exports = new Proxy({}, { get: (_t, k) => load()[k] });\n",
      loader: "js",
    }));
  },
};

/**
 * Node built-ins as CommonJS: `import fs from "node:fs"` in an ES module makes
 * Node build the module's namespace, which runs every lazy getter of fs (and so
 * loads fs/promises, readline, the fs watchers, ...): ~2 ms for nothing. The
 * bundle takes each built-in from process.getBuiltinModule instead (the same
 * object), and esbuild's CommonJS interop reads a binding only where it is used.
 * (Node >= 20.16). On an older Node the entry gets empty stand-ins: its Node
 * check reads only `process`, and exits with its message before any is used.
 */
const builtinsAsCommonJs = {
  name: "builtins-as-commonjs",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === "import-statement" ? { path: args.path, namespace: "banger-builtin" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "banger-builtin" }, (args) => ({
      contents: `module.exports = process.getBuiltinModule?.(${JSON.stringify(args.path)}) ?? {};`,
      loader: "js",
    }));
  },
};

/**
 * The hot path in ONE chunk. esbuild makes a shared chunk per set of entry
 * points (the CLI entry and every `import()` target) that reach a module, so
 * the modules of `banger vm ...` would come in ~15 small files, and each file
 * costs Node ~0.3 ms to load. Every `import()` target below also imports the
 * CORE modules (main.ts and the vm command), so each core module is reached by
 * every entry point alike and esbuild keeps them all in one chunk. The added
 * import has no code of its own: it only makes a command chunk load the core
 * chunk, which main.ts has loaded already.
 */
const CORE = ["src/cli/main.ts", "src/cli/commands/vm.ts"].map((f) => path.join(root, f));

async function dynamicImportTargets() {
  const targets = new Set();
  const files = (await readdir(path.join(root, "src"), { recursive: true })).filter(
    (f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f),
  );
  for (const f of files) {
    const abs = path.join(root, "src", f);
    for (const m of (await readFile(abs, "utf8")).matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)) {
      const target = path.resolve(path.dirname(abs), m[1]).replace(/\.js$/, "");
      targets.add(`${target}.ts`).add(`${target}.tsx`);
    }
  }
  return targets;
}

const oneCoreChunk = () => ({
  name: "one-core-chunk",
  setup(b) {
    b.onResolve({ filter: /^banger-cli-core$/ }, () => ({ path: "core", namespace: "banger-core" }));
    b.onLoad({ filter: /.*/, namespace: "banger-core" }, () => ({
      contents: CORE.map((f) => `import ${JSON.stringify(f)};`).join("\n"),
      resolveDir: root,
      loader: "js",
    }));
  },
});

/**
 * A module's `import.meta.url` keeps meaning the file tsc compiles it to
 * (dist/src/<path>.js), so paths found relative to it (build-info.json, the
 * daemon's entry, the catalog, the helper) stay right from inside a chunk.
 * It also adds the core import (above) to every `import()` target.
 */
const sourceLoader = (coreTargets) => ({
  name: "source-loader",
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.tsx?$/ }, async (args) => {
      let text = await readFile(args.path, "utf8");
      if (coreTargets.has(args.path)) text += '\nimport "banger-cli-core";\n';
      if (!text.includes("import.meta.url"))
        return { contents: text, loader: args.path.endsWith(".tsx") ? "tsx" : "ts" };
      const rel = path.relative(path.join(root, "src"), args.path).replace(/\.tsx?$/, ".js");
      const compiled = `new URL(${JSON.stringify(`../src/${rel.split(path.sep).join("/")}`)}, import.meta.url).href`;
      return {
        contents: text.replaceAll("import.meta.url", compiled),
        loader: args.path.endsWith(".tsx") ? "tsx" : "ts",
      };
    });
  },
});

await rm(outdir, { recursive: true, force: true });
const common = {
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node24",
  // .mjs: Node knows the format from the name, with no package.json scope lookup or format detection.
  outExtension: { ".js": ".mjs" },
  external,
  legalComments: "none",
  logLevel: "warning",
};
// The entry (banger.mjs) is built on its own: it checks the Node version and turns the compile
// cache on before it imports main.mjs, and it shares no chunk with the rest.
await build({
  ...common,
  entryPoints: { banger: path.join(root, "src", "bin", "banger.ts") },
  plugins: [
    builtinsAsCommonJs,
    {
      name: "main-beside",
      setup(b) {
        b.onResolve({ filter: /^\.\.\/cli\/main\.js$/ }, () => ({ path: "./main.mjs", external: true }));
      },
    },
  ],
});
const result = await build({
  ...common,
  entryPoints: { main: CORE[0] },
  splitting: true,
  // commander is CommonJS: its require() of node: built-ins needs a real require in an ES module.
  banner: {
    js: 'const require = process.getBuiltinModule("node:module").createRequire(import.meta.url);',
  },
  // Chunks stay beside the entry (the default): the import.meta.url rewrite is relative to dist/cli/.
  plugins: [sourceLoader(await dynamicImportTargets()), lazyChildProcess, oneCoreChunk(), builtinsAsCommonJs],
  metafile: true,
});
// `banger vm ...` loads banger.mjs, then the chunks of main.ts and vm.ts and what they import
// statically: few files, and none of the heavy packages (those load only with the commands that use them).
const heavy = /^(zod|@modelcontextprotocol\/sdk|ink|react)(\/|$)/;
const outputs = result.metafile.outputs;
const entryOf = (src) =>
  Object.keys(outputs).find((o) => outputs[o].entryPoint === path.relative(process.cwd(), src));
const seen = new Set();
const eager = CORE.map(entryOf);
while (eager.length > 0) {
  const file = eager.pop();
  if (file === undefined) throw new Error("build-cli: no chunk for a core module");
  if (seen.has(file)) continue;
  seen.add(file);
  for (const i of outputs[file].imports) {
    if (i.kind !== "import-statement") continue;
    if (i.external && heavy.test(i.path)) {
      console.error(`build-cli: ${file} loads ${i.path} at start; it must stay in a lazily imported chunk`);
      process.exit(1);
    }
    if (!i.external) eager.push(i.path);
  }
}
if (seen.size > 3) {
  console.error(
    `build-cli: \`banger vm\` loads ${seen.size} files (${[...seen].join(", ")}); expected 3 at most`,
  );
  process.exit(1);
}
