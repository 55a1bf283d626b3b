/**
 * Where the privileged helper comes from and how it is installed: the bundle
 * in dist/helper, the file `banger sudoers --install` writes (the bundle with
 * its first line pointing at the Node copy beside it), its sha256 digest, the
 * sudoers line that pins that digest, and the argv the daemon starts.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { HELPER_INSTALL_DIR, HELPER_INSTALL_PATH } from "../../helper/protocol.js";

/** The Node binary the installed helper runs with (a root-owned copy). */
export const HELPER_NODE_PATH = `${HELPER_INSTALL_DIR}/node`;

/** dist/helper/banger-helper.mjs of this build. */
export function bundlePath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../helper/banger-helper.mjs");
}

/** The file --install writes: the bundle with its first line replaced by the pinned interpreter. */
export function installedHelperText(bundle: string = readFileSync(bundlePath(), "utf8")): string {
  const nl = bundle.indexOf("\n");
  return `#!${HELPER_NODE_PATH}\n${nl < 0 ? "" : bundle.slice(nl + 1)}`;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The one sudoers line for `user`: the helper alone, digest pinned, no environment passing. */
export function sudoersLine(user: string, digest: string): string {
  return `${user} ALL=(root) NOPASSWD:NOSETENV: sha256:${digest} ${HELPER_INSTALL_PATH}`;
}

export function sudoersFile(user: string): string {
  return `/etc/sudoers.d/banger-${user.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** How the daemon starts the helper: directly when it is root, else through `sudo -n`. */
export function helperCommand(uid: number): string[] {
  return uid === 0 ? [process.execPath, bundlePath()] : ["sudo", "-n", HELPER_INSTALL_PATH];
}

export const HELPER_START_HINT =
  "banger's privileged helper is not installed or its sudoers line is missing or stale: run `sudo banger sudoers --install --user $USER` (or add the lines `banger sudoers` prints), then `banger doctor`";

/** The environment for a helper the root daemon starts directly: never a SUDO_UID it inherited. */
export function directHelperEnv(): NodeJS.ProcessEnv {
  return { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
}

function writeAtomic(dest: string, write: (tmp: string) => void, mode: number): void {
  const tmp = `${dest}.tmp-${process.pid}`;
  write(tmp);
  chmodSync(tmp, mode);
  renameSync(tmp, dest);
}

/** Root only: the root-only directory with the helper and a copy of this Node binary, each replaced atomically. */
export function installHelper(text: string = installedHelperText()): { digest: string } {
  mkdirSync(HELPER_INSTALL_DIR, { recursive: true, mode: 0o755 });
  const st = lstatSync(HELPER_INSTALL_DIR);
  if (!st.isDirectory() || st.uid !== 0) {
    throw new BangerError(
      ErrorCodes.PREFLIGHT_FAILED,
      `${HELPER_INSTALL_DIR} is not a directory owned by root`,
      {
        hint: `inspect it (ls -ld ${HELPER_INSTALL_DIR}); remove it as root if it is not banger's, then install again`,
      },
    );
  }
  chmodSync(HELPER_INSTALL_DIR, 0o755);
  writeAtomic(HELPER_NODE_PATH, (tmp) => copyFileSync(process.execPath, tmp), 0o755);
  writeAtomic(HELPER_INSTALL_PATH, (tmp) => writeFileSync(tmp, text, { mode: 0o700 }), 0o755);
  return { digest: sha256Hex(text) };
}
