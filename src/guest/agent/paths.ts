/** Where banger's package files live, for code compiled to dist/src/... or run from src/... */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function isBangerPackage(dir: string): boolean {
  const pj = path.join(dir, "package.json");
  if (!existsSync(pj)) return false;
  try {
    return (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "banger";
  } catch {
    return false;
  }
}

/**
 * The package (repository) root: the nearest ancestor of this module holding
 * banger's package.json. From dist/src/guest/agent/ that is four levels up.
 */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (isBangerPackage(d)) return d;
    if (path.dirname(d) === d) break;
  }
  return path.resolve(from, "..", "..", "..", "..");
}
