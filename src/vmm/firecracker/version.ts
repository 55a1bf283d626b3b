/**
 * The Firecracker version check, run before the first boot with a binary:
 * `firecracker --version` prints "Firecracker vX.Y.Z" on its first line.
 *
 * The minimum is 1.8.0: banger boots x86_64 guests whose kernels (Debian's
 * 6.1 and the test guest) find their virtio devices through ACPI, which
 * Firecracker added in 1.8.0 (CHANGELOG #4428); older releases need
 * virtio_mmio.device= kernel arguments banger does not pass. The API subset
 * banger uses (apiSpec.ts, written from 1.16.1) is present in 1.8.0 with the
 * same fields: PUT /vsock without vsock_id, smt, cache_type "Writeback",
 * SendCtrlAltDel and GET / with vmm_version.
 */
import { execFile } from "node:child_process";
import { BangerError, ErrorCodes } from "../../errors/index.js";

export const MIN_FIRECRACKER_VERSION = "1.8.0";
/**
 * Restoring a saved state needs `vsock_override` on PUT /snapshot/load, added
 * in 1.16.0 (CHANGELOG #5323; `network_overrides` came in 1.12.0): without it
 * a restored VM would bind the saved VM's vsock socket.
 */
export const MIN_RESTORE_VERSION = "1.16.0";

type Triple = [number, number, number];

/** The version in `firecracker --version` output, or null. */
export function parseFirecrackerVersion(output: string): Triple | null {
  const m = /Firecracker v(\d+)\.(\d+)\.(\d+)/.exec(output);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function compareVersions(a: Triple, b: Triple): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** Throws unless `output` names a version at or above the minimum; returns "X.Y.Z". */
export function assertSupportedVersion(bin: string, output: string): string {
  const v = parseFirecrackerVersion(output);
  if (!v) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `${bin} --version printed no "Firecracker vX.Y.Z" line: ${JSON.stringify(output.slice(0, 200))}`,
      { hint: "point firecracker_bin in config.toml at a Firecracker release binary" },
    );
  }
  const min = parseFirecrackerVersion(`Firecracker v${MIN_FIRECRACKER_VERSION}`) as Triple;
  const have = v.join(".");
  if (compareVersions(v, min) < 0) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `${bin} is Firecracker ${have}; banger needs ${MIN_FIRECRACKER_VERSION} or newer`,
      { hint: "install a current release from https://github.com/firecracker-microvm/firecracker/releases" },
    );
  }
  return have;
}

/** Run `bin --version` and check it; a missing binary is "cannot run BIN: not found". */
export async function checkFirecrackerVersion(bin: string, timeoutMs = 10_000): Promise<string> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(bin, ["--version"], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (!err) return resolve(`${stdout}${stderr}`);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        return reject(
          new BangerError(ErrorCodes.PREFLIGHT_FAILED, `cannot run ${bin}: not found`, {
            cause: err,
            hint: "install Firecracker or set firecracker_bin in config.toml",
          }),
        );
      }
      reject(
        new BangerError(
          ErrorCodes.PREFLIGHT_FAILED,
          `${bin} --version failed (${err.message.split("\n")[0]}): ${String(stderr).trim().slice(0, 300)}`,
          { cause: err, hint: "check that firecracker_bin in config.toml is a working Firecracker binary" },
        ),
      );
    });
  });
  return assertSupportedVersion(bin, output);
}

/** Throws unless `version` ("X.Y.Z", from checkFirecrackerVersion) can restore a saved state. */
export function assertRestoreVersion(bin: string, version: string): void {
  const have = parseFirecrackerVersion(`Firecracker v${version}`);
  const min = parseFirecrackerVersion(`Firecracker v${MIN_RESTORE_VERSION}`) as Triple;
  if (!have || compareVersions(have, min) < 0) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `${bin} is Firecracker ${version}; restoring a saved VM needs ${MIN_RESTORE_VERSION} or newer (PUT /snapshot/load with vsock_override)`,
      { hint: "install a current release from https://github.com/firecracker-microvm/firecracker/releases" },
    );
  }
}
