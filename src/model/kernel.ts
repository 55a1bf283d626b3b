import type { Arch, ArtifactSource } from "./ids.js";

/** A guest kernel banger knows about. */
export interface Kernel {
  /** 16 lowercase hex characters. */
  id: string;
  /** Unique. */
  name: string;
  version: string;
  arch: Arch;
  vmlinuxPath: string;
  initrdPath: string | null;
  /** Kernel modules matching the kernel, copied into guests that need them. */
  modulesDir: string | null;
  source: ArtifactSource;
  createdAt: Date;
}
