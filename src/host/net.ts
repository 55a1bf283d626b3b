/**
 * Unprivileged iproute2 reads (argv builders), the TAP naming scheme, the
 * per-user default bridge and subnet, parsers for `ip -j` output, and the
 * error for a failed network command. Every privileged network action goes
 * through the privileged helper's verbs (src/helper/verbs), never from here.
 */

import { BangerError, ErrorCodes } from "../errors/index.js";
import { formatArgv, type RunResult } from "./runner.js";

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Throws on a name the kernel would reject or that could be read as an option. */
export function checkIfName(name: string): string {
  if (!IFNAME_RE.test(name) || name.startsWith("-")) throw new Error(`invalid interface name "${name}"`);
  return name;
}

export const netArgv = {
  linkShow: (dev: string) => ["ip", "-j", "link", "show", "dev", checkIfName(dev)],
  linkShowAll: () => ["ip", "-j", "link", "show"],
  /** One link with its kind (`-d`: linkinfo.info_kind), flags and master. */
  linkShowDetailed: (dev: string) => ["ip", "-j", "-d", "link", "show", "dev", checkIfName(dev)],
  /** Every link with its kind (`-d`: linkinfo.info_kind), flags, master and addresses: one unprivileged read. */
  linksDetailed: () => ["ip", "-j", "-d", "addr", "show"],
  /** Every tun/tap device with its numeric owner (`user`, `group`). */
  tuntapShow: () => ["ip", "-j", "tuntap", "show"],
  addrShow: (dev: string) => ["ip", "-j", "addr", "show", "dev", checkIfName(dev)],
} as const;

/**
 * TAP names: the bridge's first 9 characters, "t", and a number (at most 5
 * digits), so a name is never longer than 15 characters. With the default
 * bridge "banger0": banger0t0, banger0t1, ...
 */
export const TAP_MAX_INDEX = 99_999;

export function tapPrefix(bridge: string): string {
  return `${checkIfName(bridge).slice(0, 9)}t`;
}

export function tapName(bridge: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > TAP_MAX_INDEX) {
    throw new Error(`TAP index ${index} is out of range 0..${TAP_MAX_INDEX}`);
  }
  return checkIfName(`${tapPrefix(bridge)}${index}`);
}

/** The number in a TAP name of this bridge's scheme, or null when the name is not one. */
export function tapIndex(bridge: string, name: string): number | null {
  const prefix = tapPrefix(bridge);
  if (!name.startsWith(prefix)) return null;
  const digits = name.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,4})$/.test(digits) ? Number(digits) : null;
}

/**
 * A user's default bridge and VM subnet: `bgr<uid>` and 172.30.<uid % 256>.0/24,
 * so two users on one host do not collide (overridable: [network] bridge, subnet).
 */
export function defaultNetwork(uid: number): { bridge: string; subnet: string } {
  return { bridge: `bgr${uid}`, subnet: `172.30.${uid % 256}.0/24` };
}

/** A link as read from `ip -j -d addr show`. */
export interface IpLink {
  name: string;
  /** ifalias: banger's ownership marker (`banger:uid=N`) on links it made. */
  alias: string | undefined;
  /** linkinfo.info_kind: "bridge", "tun", ... ("" when the link has none). */
  kind: string;
  /** For kind "tun": "tap" or "tun". */
  tunType: string | undefined;
  /** Administratively up (the UP flag). */
  up: boolean;
  master: string | undefined;
  /** IPv4 addresses as "a.b.c.d/prefix". */
  ipv4: string[];
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const optStr = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function parseJsonArray(text: string, what: string): Json[] {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() === "" ? "[]" : text);
  } catch (e) {
    throw new Error(`${what}: output is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array`);
  return v.filter(isObj);
}

/** Parse `ip -j -d addr show` (or `ip -j -d link show`) output. */
export function parseIpLinks(text: string): IpLink[] {
  return parseJsonArray(text, "ip -j addr show").flatMap((o) => {
    const name = optStr(o.ifname);
    if (name === undefined) return [];
    const info = isObj(o.linkinfo) ? o.linkinfo : {};
    const data = isObj(info.info_data) ? info.info_data : {};
    const flags = Array.isArray(o.flags) ? o.flags : [];
    const addrs = Array.isArray(o.addr_info) ? o.addr_info.filter(isObj) : [];
    return [
      {
        name,
        alias: optStr(o.ifalias),
        kind: optStr(info.info_kind) ?? "",
        tunType: optStr(data.type),
        up: flags.includes("UP"),
        master: optStr(o.master),
        ipv4: addrs
          .filter((a) => a.family === "inet" && typeof a.local === "string")
          .map((a) => `${String(a.local)}/${String(a.prefixlen)}`),
      },
    ];
  });
}

/** Parse `ip -j tuntap show`: device name -> numeric owner uid (undefined when it has none). */
export function parseTuntapOwners(text: string): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const o of parseJsonArray(text, "ip -j tuntap show")) {
    const name = optStr(o.ifname);
    if (name !== undefined) out.set(name, typeof o.user === "number" ? o.user : undefined);
  }
  return out;
}

const PRIV_HINT =
  "bridge and TAP setup go through banger's privileged helper: run `banger doctor` (and `banger sudoers`)";
const DOCTOR_HINT = "run `banger doctor` to check the host's networking prerequisites";

function isRunResult(v: unknown): v is RunResult {
  return typeof v === "object" && v !== null && "stderr" in v && "code" in v;
}

/** A failed command as a BangerError that names the command, its stderr and what to do. */
export function netCommandError(what: string, argv: readonly string[], e: unknown): BangerError {
  if (e instanceof BangerError && e.code === ErrorCodes.PREFLIGHT_FAILED) {
    return new BangerError(e.code, `could not ${what}: ${e.message}`, {
      cause: e,
      hint: e.hint ?? DOCTOR_HINT,
    });
  }
  const result = isRunResult(e) ? e : e instanceof BangerError && isRunResult(e.details) ? e.details : null;
  const stderr = result?.stderr.trim().split("\n").slice(-5).join("\n") ?? "";
  const reason = stderr || (e instanceof Error ? e.message : `exit code ${result?.code ?? "?"}`);
  const denied = /not permitted|permission denied|password is required|EPERM|EACCES/i.test(reason);
  return new BangerError(
    ErrorCodes.COMMAND_FAILED,
    `could not ${what}: \`${formatArgv(argv)}\` failed: ${reason}`,
    {
      hint: denied ? PRIV_HINT : DOCTOR_HINT,
      ...(e instanceof Error ? { cause: e } : {}),
      ...(result ? { details: result } : {}),
    },
  );
}
