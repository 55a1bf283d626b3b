/**
 * A Debian recipe that failed because the package mirror cannot be reached:
 * found in apt's own words (mmdebstrap's apt-get update, the host's
 * apt-get download) and said plainly, naming the mirror host and where its
 * address is set, instead of hinting at stale package lists.
 */
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";

export interface MirrorFailure {
  /** "dns": the name does not resolve; "connect": it resolves but does not answer. */
  kind: "dns" | "connect";
  host: string;
}

/** apt's messages (apt 2.x, methods/connect.cc), host first captured. */
const DNS = [
  /Temporary failure resolving '([^'\s:]+)/,
  /Could not resolve '([^'\s:]+)/,
  /Something wicked happened resolving '([^'\s:]+)/,
];
const CONNECT = [
  /Could not connect to ([^\s:()]+)/,
  /Unable to connect to ([^\s:()]+)/,
  /Failed to connect to ([^\s:()]+)/,
];

/** The first mirror failure apt reports in `output`, or null (other failures: missing packages, disk, ...). */
export function mirrorFailure(output: string): MirrorFailure | null {
  for (const [kind, res] of [
    ["dns", DNS],
    ["connect", CONNECT],
  ] as const) {
    for (const re of res) {
      const m = re.exec(output);
      if (m?.[1]) return { kind, host: m[1] };
    }
  }
  return null;
}

/** Where each Debian recipe takes its mirror from, and how to change it. */
const MIRROR_SOURCE: Record<string, string> = {
  "debian-bookworm":
    "banger has no mirror setting: the debian-bookworm recipe's apt sources are DEBIAN_MIRRORS in src/images/recipes/debianBookworm.ts; point them at a mirror you can reach (another Debian mirror, or a local apt-cacher-ng), then rebuild banger (`npm run build`)",
  "debian-kernel":
    "the debian-kernel recipe downloads with the host's apt, so its mirror is the host's apt sources: set one you can reach in /etc/apt/sources.list or /etc/apt/sources.list.d/",
};

function outputOf(e: unknown): string {
  const parts: string[] = [];
  for (let x = e, i = 0; x && i < 6; i++) {
    const err = x as { message?: unknown; details?: { stderr?: unknown }; cause?: unknown };
    if (typeof err.message === "string") parts.push(err.message);
    if (typeof err.details?.stderr === "string") parts.push(err.details.stderr);
    x = err.cause;
  }
  return parts.join("\n");
}

/** `e` restated when a Debian recipe failed on its mirror; null when it did not (keep `e`). */
export function mirrorError(recipeId: string, e: unknown): BangerError | null {
  const source = MIRROR_SOURCE[recipeId];
  if (!source) return null;
  const f = mirrorFailure(outputOf(e));
  if (!f) return null;
  const what =
    f.kind === "dns"
      ? `the package mirror ${f.host} cannot be resolved (DNS lookup failed)`
      : `the package mirror ${f.host} cannot be reached (connection failed)`;
  const check =
    f.kind === "dns"
      ? `check this host's DNS (\`getent hosts ${f.host}\`, /etc/resolv.conf)`
      : `check this host's network and proxy settings (\`curl -I http://${f.host}/\`)`;
  return new BangerError(ErrorCodes.COMMAND_FAILED, `recipe "${recipeId}" failed: ${what}`, {
    cause: e,
    hint: `${check}; ${source}`,
    details: { mirror: f.host, kind: f.kind, ...(isBangerError(e) ? { error: e.toPayload() } : {}) },
  });
}
