import type { Arch, ArtifactSource } from "./ids.js";

/** A root filesystem image VMs are created from. */
export interface Image {
  /** 16 lowercase hex characters. */
  id: string;
  /** Unique. */
  name: string;
  version: string;
  arch: Arch;
  /** The managed kernel this image boots with (null when it brings its own or uses the default). */
  kernelId: string | null;
  /** Kernel files registered together with the image (instead of a managed kernel). */
  kernelPath: string | null;
  initrdPath: string | null;
  rootfsPath: string;
  /** The template the per-VM work disk (`/root`) is seeded from. */
  workSeedPath: string;
  sizeBytes: number;
  source: ArtifactSource;
  description: string;
  createdAt: Date;
}

/** Where an image's kernel comes from: a managed kernel, its own files, or nowhere (use the default). */
export function imageKernelRef(
  img: Pick<Image, "kernelId" | "kernelPath">,
): { kind: "managed"; kernelId: string } | { kind: "own"; path: string } | { kind: "default" } {
  if (img.kernelId !== null) return { kind: "managed", kernelId: img.kernelId };
  if (img.kernelPath !== null) return { kind: "own", path: img.kernelPath };
  return { kind: "default" };
}
