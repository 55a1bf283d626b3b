/** The firecracker command line and the files it uses inside a VM directory. */
import path from "node:path";
import { BangerError, ErrorCodes } from "../../errors/index.js";

/** `--id`: ASCII letters, digits and `-`, 1 to 64 characters (Firecracker's validators.rs). */
const PROCESS_ID = /^[A-Za-z0-9-]{1,64}$/;
/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_UNIX_SOCKET_PATH = 107;

export interface FirecrackerPaths {
  /** The API socket (`--api-sock`). */
  apiSock: string;
  /** The vsock `uds_path`; guest-initiated connections go to `<vsock>_<port>`. */
  vsock: string;
  metrics: string;
}

export function firecrackerPaths(vmDir: string): FirecrackerPaths {
  return {
    apiSock: path.join(vmDir, "fc.sock"),
    vsock: path.join(vmDir, "vsock.sock"),
    metrics: path.join(vmDir, "metrics.json"),
  };
}

/** Throws when a Unix socket path would not fit in sockaddr_un. */
export function assertSocketPath(p: string): void {
  if (Buffer.byteLength(p) > MAX_UNIX_SOCKET_PATH) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `socket path ${p} is ${Buffer.byteLength(p)} bytes; Unix sockets allow at most ${MAX_UNIX_SOCKET_PATH}`,
      { hint: "use a shorter state directory (XDG_STATE_HOME)" },
    );
  }
}

/** `<bin> --api-sock <apiSock> --id <id>` */
export function firecrackerArgv(bin: string, apiSock: string, id: string): string[] {
  if (!PROCESS_ID.test(id)) {
    throw new BangerError(
      ErrorCodes.INVALID_ARGUMENT,
      `VM id ${JSON.stringify(id)} is not a valid Firecracker --id (letters, digits and "-", 1-64 characters)`,
    );
  }
  return [bin, "--api-sock", apiSock, "--id", id];
}
