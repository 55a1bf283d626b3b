/**
 * The `privileges` doctor check. Root: privileged work runs through the
 * bundled helper directly. A normal user: sudo is installed, the installed
 * helper is the one this build would install (same sha256), and the sudoers
 * line lets this user run it (`sudo -n -l HELPER`, which checks the digest).
 */
import type { CheckResult } from "../api/doctor.js";
import { HELPER_INSTALL_PATH } from "../helper/protocol.js";
import { bundlePath, installedHelperText, sha256Hex, sudoersLine } from "../host/helper/install.js";
import type { HostProbe } from "../host/probe.js";

type Result = Omit<CheckResult, "id" | "title">;

export function refreshFix(user: string, line: string): string {
  return (
    `sudo banger sudoers --install --user ${user} (or, as root, install the helper with \`banger sudoers --install\` ` +
    `and add this line with visudo: ${line}). Run it again after every banger upgrade: the line pins the helper's digest`
  );
}

export async function privilegesCheck(probe: HostProbe, bundle: string = bundlePath()): Promise<Result> {
  const text = await probe.readText(bundle);
  if (text === null) {
    return {
      status: "fail",
      detail: `the helper bundle ${bundle} is missing`,
      fix: "run `npm run build` (or reinstall banger)",
    };
  }
  if (probe.uid === 0) {
    return {
      status: "pass",
      detail: `running as root: privileged work runs through the bundled helper ${bundle} directly`,
    };
  }
  const user = probe.env.USER ?? probe.env.LOGNAME ?? "$USER";
  const want = sha256Hex(installedHelperText(text));
  const fix = refreshFix(user, sudoersLine(user, want));
  if (!(await probe.which("sudo"))) {
    return {
      status: "fail",
      detail: "not root and sudo is not installed",
      fix: `apt-get install sudo (as root), then ${fix}`,
    };
  }
  const installed = await probe.readText(HELPER_INSTALL_PATH);
  if (installed === null)
    return { status: "fail", detail: `the privileged helper ${HELPER_INSTALL_PATH} is not installed`, fix };
  const have = sha256Hex(installed);
  if (have !== want) {
    return {
      status: "fail",
      detail: `${HELPER_INSTALL_PATH} is from another banger build (sha256 ${have.slice(0, 12)}…, this build needs ${want.slice(0, 12)}…)`,
      fix,
    };
  }
  const r = await probe.run(["sudo", "-n", "-l", HELPER_INSTALL_PATH]);
  if (r?.code !== 0) {
    return {
      status: "fail",
      detail: `sudo does not let ${user} run ${HELPER_INSTALL_PATH} without a password (no line, or a stale digest)`,
      fix,
    };
  }
  return {
    status: "pass",
    detail: `sudo runs the helper ${HELPER_INSTALL_PATH} (sha256 ${want.slice(0, 12)}…, this build's)`,
  };
}
