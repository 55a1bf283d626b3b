import { randomBytes } from "node:crypto";

/** Object ids: 16 lowercase hex characters (no `-`: Firecracker resource ids refuse it). */
export const ID_PATTERN = /^[0-9a-f]{16}$/;

export function isValidId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/** A fresh random id. `random` is injectable for tests (it must return `n` bytes). */
export function newId(random: (n: number) => Uint8Array = randomBytes): string {
  return Buffer.from(random(8)).toString("hex");
}

/** CPU architectures banger runs guests for. */
export const ARCHES = ["x86_64"] as const;
export type Arch = (typeof ARCHES)[number];

/** How a kernel or image came to be: registered local files, pulled from a catalog, or built from a recipe. */
export const ARTIFACT_SOURCES = ["register", "pull", "recipe"] as const;
export type ArtifactSource = (typeof ARTIFACT_SOURCES)[number];
