/**
 * What an image's root filesystem provides, read from the ext4 image with
 * debugfs (no mount, no root): banger's guest agent and an SSH server. This
 * decides how banger waits for a VM of the image (model/image.ts readinessOf).
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { debugfsSections, debugfsStatType } from "../../host/disk.js";
import type { CommandRunner } from "../../host/runner.js";
import type { ImageCapabilities } from "../../model/image.js";

/** Where banger's images install the agent (images/recipes/agent.ts AGENT_GUEST_PATH). */
export const AGENT_PATHS: readonly string[] = ["/usr/sbin/banger-agent"];
/** OpenSSH's sshd and dropbear, where Debian, Alpine, Void and busybox systems put them. */
export const SSHD_PATHS: readonly string[] = [
  "/usr/sbin/sshd",
  "/sbin/sshd",
  "/usr/bin/sshd",
  "/usr/sbin/dropbear",
  "/sbin/dropbear",
  "/usr/bin/dropbear",
];

/** Parse `debugfs -f -` output of one `stat PATH` per path: the paths that exist (any inode type). */
export function presentPaths(stdout: string): Set<string> {
  const found = new Set<string>();
  for (const s of debugfsSections(stdout)) {
    const m = /^stat (\S+)$/.exec(s.request.trim());
    if (m?.[1] && debugfsStatType(s.output) !== null) found.add(m[1]);
  }
  return found;
}

/** Detect the agent and an sshd in `rootfs` (an ext4 image file). */
export async function detectCapabilities(runner: CommandRunner, rootfs: string): Promise<ImageCapabilities> {
  const paths = [...AGENT_PATHS, ...SSHD_PATHS];
  const r = await runner
    .run(["debugfs", "-f", "-", rootfs], { input: `${paths.map((p) => `stat ${p}`).join("\n")}\n` })
    .catch((e: Error) => {
      throw new BangerError(
        ErrorCodes.COMMAND_FAILED,
        `cannot inspect ${rootfs} with debugfs: ${e.message}`,
        {
          cause: e,
          hint: "install e2fsprogs (`sudo apt-get install e2fsprogs`); the rootfs must be an ext4 image",
        },
      );
    });
  const found = presentPaths(r.stdout);
  return {
    agent: AGENT_PATHS.some((p) => found.has(p)),
    sshd: SSHD_PATHS.some((p) => found.has(p)),
  };
}
