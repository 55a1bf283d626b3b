import { readFileSync } from "node:fs";

export interface BuildInfo {
  version: string;
  buildId: string;
  builtAt: string;
}

let cached: BuildInfo | undefined;

/** The version and build id written by scripts/write-build-info.mjs next to the compiled code. */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  try {
    cached = JSON.parse(readFileSync(new URL("../build-info.json", import.meta.url), "utf8")) as BuildInfo;
  } catch {
    cached = { version: "0.0.0-dev", buildId: "unbuilt", builtAt: "" };
  }
  return cached;
}
