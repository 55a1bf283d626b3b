/**
 * Port: the disks of a VM. A VM never copies its image's root filesystem:
 * where the state directory's filesystem supports reflinks the root is a
 * reflink clone (writable, instant); otherwise the image's rootfs is shared
 * read-only and the VM gets a small copy-on-write disk that the guest's
 * initrd uses as the overlay's upper layer. The work disk (/root in the
 * guest) is a sparse copy of the image's work seed grown to the VM's disk
 * size with resize2fs: its cost tracks the seed's used bytes.
 * Real implementation: Ext4DiskManager (e2fsprogs, no mounting); test double: FakeDiskManager.
 */

export interface VmDisks {
  /** The root drive given to the VMM. */
  root: { path: string; readOnly: boolean };
  /** The per-VM overlay upper disk, or null when the root is a writable reflink clone. */
  cow: string | null;
  /** The work disk (mounted at /root in the guest). */
  work: string;
  /** How the root was provided. */
  rootMode: "reflink" | "overlay";
}

export interface PrepareDisksRequest {
  vmDir: string;
  imageRootfs: string;
  imageWorkSeed: string;
  diskSizeBytes: number;
}

/** A file to put on the work disk (paths relative to the work disk's root, i.e. the guest's /root). */
export interface WorkDiskFile {
  /** e.g. ".ssh/authorized_keys" */
  path: string;
  content: string | Buffer;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  uid?: number;
  gid?: number;
  /** Mode of parent directories that have to be created (default 0o700, root-owned). */
  dirMode?: number;
}

export interface DiskManager {
  /** Create the VM's disks in vmDir. On failure, removes whatever it created. */
  prepare(req: PrepareDisksRequest): Promise<VmDisks>;
  /** Write files (creating parent directories, mode 0700 root-owned) into the work disk without mounting it. Overwrites. */
  writeWorkFiles(workDisk: string, files: WorkDiskFile[]): Promise<void>;
  /**
   * Write files into the VM's root filesystem as the guest will see it (e.g.
   * "etc/ssh/ssh_host_ed25519_key"): into the overlay's upper layer on the
   * copy-on-write disk, or into the reflink root. Parents are created 0755.
   */
  writeRootFiles(disks: VmDisks, files: WorkDiskFile[]): Promise<void>;
  /** Read a file from the work disk without mounting it; null when absent. */
  readWorkFile(workDisk: string, path: string): Promise<Buffer | null>;
  /** Remove the VM's disks (idempotent). */
  remove(disks: Pick<VmDisks, "cow" | "work" | "root" | "rootMode">): Promise<void>;
  /** Check that a file is an ext4 image (superblock magic); returns a reason when it is not. */
  checkExt4(path: string): Promise<string | null>;
}
