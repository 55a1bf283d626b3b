/** Firecracker (x86_64, v1.16) boots an uncompressed ELF vmlinux only: check before spawning. */
import { open } from "node:fs/promises";
import { BangerError, ErrorCodes } from "../../errors/index.js";

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const HINT =
  "use an uncompressed vmlinux (`make vmlinux`, or scripts/extract-vmlinux from the kernel tree on a bzImage)";

/** What a non-ELF kernel file looks like, in words (first bytes of the file). */
export function describeKernelHeader(head: Buffer): string {
  if (head.length === 0) return "is empty";
  if (head.subarray(0x202, 0x206).toString("latin1") === "HdrS") {
    return "looks like a compressed bzImage; Firecracker needs an uncompressed vmlinux";
  }
  if (head.subarray(0x38, 0x3c).toString("latin1") === "ARM\x64") {
    return "looks like an arm64 Image; this driver boots x86_64 ELF vmlinux kernels";
  }
  if (head[0] === 0x1f && head[1] === 0x8b)
    return "looks gzip-compressed; Firecracker needs an uncompressed vmlinux";
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    return "looks xz-compressed; Firecracker needs an uncompressed vmlinux";
  }
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    return "looks zstd-compressed; Firecracker needs an uncompressed vmlinux";
  }
  if (head.subarray(0, 2).toString("latin1") === "MZ") {
    return "looks like a PE/EFI image; Firecracker needs an uncompressed ELF vmlinux";
  }
  const hex = [...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `starts with bytes ${hex}, not the ELF magic 7f 45 4c 46 ("\\x7fELF")`;
}

/** Throws a BangerError naming the file when it is missing or not an ELF image. */
export async function checkKernelImage(path: string): Promise<void> {
  let head: Buffer;
  try {
    const fh = await open(path, "r");
    try {
      const buf = Buffer.alloc(0x240);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BangerError(
      code === "ENOENT" ? ErrorCodes.NOT_FOUND : ErrorCodes.INVALID_ARGUMENT,
      `kernel image ${path} cannot be read: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
      { cause: e },
    );
  }
  if (head.subarray(0, 4).equals(ELF_MAGIC)) return;
  throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `kernel image ${path} ${describeKernelHeader(head)}`, {
    hint: HINT,
  });
}
