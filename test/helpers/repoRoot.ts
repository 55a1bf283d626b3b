import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest ancestor of this file with banger's package.json. */
export function repoRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(d, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "banger")
      return d;
    const up = path.dirname(d);
    if (up === d) throw new Error("repository root not found");
    d = up;
  }
}

/** ../shared beside the repository (Firecracker spec, guest recipe). */
export function sharedDir(): string {
  return path.resolve(repoRoot(), "..", "shared");
}
