/** Helpers for tests: a `firecracker` executable that runs the fake. */
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { shellQuote } from "../../src/util/shellQuote.js";
import { sharedDir } from "../helpers/repoRoot.js";

/** The official Firecracker spec, when it sits beside the repository (compared with apiSpec.ts). */
export function specPath(): string {
  return path.join(sharedDir(), "firecracker", "firecracker-api.yaml");
}

export function haveSpec(): boolean {
  return existsSync(specPath());
}

/** The compiled fake (fake.js beside this file). */
export function fakeScript(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "fake.js");
}

/** The compiled fake jailer. */
export function fakeJailerScript(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "jailer.js");
}

/**
 * Write `<dir>/<name>`: `#!/bin/sh` + exports of `env` + `exec node fake.js "$@"`.
 * Pass its path as the driver's firecracker binary.
 */
export function writeFakeFirecrackerBin(
  dir: string,
  env: Record<string, string> = {},
  name = "firecracker",
  script = fakeScript(),
): string {
  const file = path.join(dir, name);
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote([v])}`)
    .join("\n");
  writeFileSync(file, `#!/bin/sh\n${exports}\nexec ${shellQuote([process.execPath, script])} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}
