#!/usr/bin/env node
// Benchmark: the golden debian-bookworm image built rootless (the recipe as
// banger runs it: as root it hands the build to banger-vmm, mmdebstrap
// --mode=unshare, unpack and mkfs.ext4 -d in the build user namespace) next
// to the previous root build (mmdebstrap --mode=root --format=directory, the
// same customization and mkfs.ext4 -d run by host root). Each is built once,
// from the Debian mirror, into temp dirs that are removed; prints both times,
// their stages and the ratio (goal: rootless <= 1.2x root).
//
// Usage (root, with network to the Debian mirror; scripts/deps.sh ensure_vmm_user):
//   npm run build && node bench/image-build.mjs [DIST_DIR]   (default: dist)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.resolve(root, process.argv[2] ?? process.env.BANGER_DIST ?? "dist");
const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href);
const { NodeCommandRunner } = await load("src/host/node/NodeCommandRunner.js");
const { LocalRecipeRunner } = await load("src/images/recipes/RecipeRunner.js");
const deb = await load("src/images/recipes/debianBookworm.js");
const { splitWorkSeed, mkfsImageFiles } = await load("src/images/recipes/ext4Image.js");
const { Stages } = await load("src/images/recipes/stages.js");
const { defaultAgentProvider } = await load("src/images/recipes/agent.js");
const { removeUnlessMounted } = await load("src/images/mounts.js");

if (process.getuid?.() !== 0) {
  console.error("run as root: the previous build path needs root (the rootless one then runs as banger-vmm)");
  process.exit(2);
}
const runner = new NodeCommandRunner();
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** The build as banger does it now (a fresh cache dir, so it really builds). */
async function rootless(dir) {
  const stages = [];
  const t0 = performance.now();
  await new LocalRecipeRunner({ runner, cacheDir: path.join(dir, "cache") }).run(deb.DEBIAN_BOOKWORM_RECIPE, {
    workDir: path.join(dir, "work"),
    catalogEntry: {},
    onProgress: (e) => e.phase === "done" && stages.push(`${e.stage.replace("recipe:", "")} ${s(e.ms)}`),
  });
  return { ms: performance.now() - t0, stages };
}

/** The previous build: everything as host root (mmdebstrap --mode=root into a directory). */
async function asRoot(dir) {
  const stages = new Stages(() => {}, "root");
  const tree = path.join(dir, "rootfs");
  const seed = path.join(dir, "work-seed");
  const argv = deb
    .mmdebstrapArgv(tree, deb.DEBIAN_PACKAGES, deb.DEBIAN_MIRRORS)
    .map((a) => (a === "--mode=unshare" ? "--mode=root" : a === "--format=tar" ? "--format=directory" : a));
  const t0 = performance.now();
  try {
    await stages.run("mmdebstrap", "", () => runner.run(argv));
    const agent = await stages.run("agent", "", () =>
      defaultAgentProvider(runner).build(path.join(dir, "agent")),
    );
    await stages.run("customize", "", async () => {
      await deb.customizeDebianTree(tree, agent);
      await splitWorkSeed(tree, seed);
    });
    mkdirSync(path.join(dir, "out"));
    await mkfsImageFiles(stages, { root: tree, seed }, path.join(dir, "out"), runner);
    return { ms: performance.now() - t0, stages: stages.timings.map((t) => `${t.stage} ${s(t.ms)}`) };
  } finally {
    const mounted = await removeUnlessMounted(tree);
    if (mounted.length > 0) console.error(`left mounted by mmdebstrap: ${mounted.join(", ")}`);
  }
}

const results = {};
for (const [name, fn] of [
  ["rootless", rootless],
  ["root", asRoot],
]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `banger-bench-image-${name}-`));
  try {
    results[name] = await fn(dir);
    console.log(`${name.padEnd(8)} ${s(results[name].ms).padStart(8)}  (${results[name].stages.join(", ")})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const ratio = results.rootless.ms / results.root.ms;
console.log(
  `rootless / root = ${ratio.toFixed(2)} (goal <= 1.20) — load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`,
);
console.log(
  JSON.stringify({
    bench: "image-build",
    rootlessS: +(results.rootless.ms / 1000).toFixed(1),
    rootS: +(results.root.ms / 1000).toFixed(1),
    ratio: +ratio.toFixed(2),
    debian: readFileSync("/etc/debian_version", "utf8").trim(),
  }),
);
