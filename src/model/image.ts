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
  /** What the rootfs provides, detected at register/pull/build time; null = not detected yet (older rows). */
  capabilities?: ImageCapabilities | null;
}

/** What an image's rootfs provides for banger to see inside a guest. */
export interface ImageCapabilities {
  /** banger's guest agent at /usr/sbin/banger-agent. */
  agent: boolean;
  /** An SSH server (OpenSSH sshd or dropbear). */
  sshd: boolean;
}

/** How banger decides a started VM is ready: the agent answers, else SSH answers, else the VMM runs. */
export type Readiness = "agent" | "ssh" | "started";

/** The one readiness rule shared by create, start and run. */
export function readinessOf(caps: ImageCapabilities): Readiness {
  if (caps.agent) return "agent";
  if (caps.sshd) return "ssh";
  return "started";
}

export function isImageCapabilities(v: unknown): v is ImageCapabilities {
  const o = v as Partial<ImageCapabilities> | null;
  return typeof o === "object" && o !== null && typeof o.agent === "boolean" && typeof o.sshd === "boolean";
}

/** Where an image's kernel comes from: a managed kernel, its own files, or nowhere (use the default). */
export function imageKernelRef(
  img: Pick<Image, "kernelId" | "kernelPath">,
): { kind: "managed"; kernelId: string } | { kind: "own"; path: string } | { kind: "default" } {
  if (img.kernelId !== null) return { kind: "managed", kernelId: img.kernelId };
  if (img.kernelPath !== null) return { kind: "own", path: img.kernelPath };
  return { kind: "default" };
}
