/**
 * The `identity` request (agent version 3): a forked VM's new identity in one
 * line of KEY=VALUE fields, text and bytes in base64, checked here before it
 * is sent (the agent checks again):
 *
 *   ID identity hostname=B64 machine-id=HEX32 clock=MS entropy=B64
 *               [address=A.B.C.D/N gateway=A.B.C.D mac=XX:XX:XX:XX:XX:XX]
 *               [ssh-key=B64 ssh-pub=B64]
 *
 * The agent answers `ID ok -` once every step worked, else `ID error MSG`.
 */
import { randomBytes } from "node:crypto";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { ipv4ToInt } from "../../helper/validate.js";
import { fromB64, toB64 } from "./protocol.js";

/** eth0's new address, default route and MAC. */
export interface IdentityNetwork {
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
}

/** A forked VM's new identity. */
export interface Identity {
  hostname: string;
  /** 32 lowercase hex digits (systemd's /etc/machine-id). */
  machineId: string;
  /** The host's clock, unix epoch ms. Default: Date.now() when the request is sent. */
  clockMs?: number;
  /** Random bytes credited to the guest's pool (32 to 4096). Default: 64 from the host's CSPRNG. */
  entropy?: Uint8Array;
  /** Absent: eth0 is left alone (a VM without a network). */
  network?: IdentityNetwork;
  /** The host key the host pins: OpenSSH private key text (ed25519, unencrypted) and the public line. */
  sshHostKey?: { privateKey: string; publicKey: string };
}

const MIN_CLOCK_MS = 1_577_836_800_000; // 2020-01-01, as the agent: an epoch in seconds is a mistake
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;
const MAC = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

function bad(field: string, why: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, `identity: bad ${field}: ${why}`);
}

function checkNetwork(n: IdentityNetwork): void {
  const ip = ipv4ToInt(n.ip);
  const gw = ipv4ToInt(n.gateway);
  if (ip === null) throw bad("network.ip", `${JSON.stringify(n.ip)} is not an IPv4 address`);
  if (!Number.isInteger(n.prefixLen) || n.prefixLen < 1 || n.prefixLen > 32)
    throw bad("network.prefixLen", `${n.prefixLen} is not 1 to 32`);
  if (gw === null) throw bad("network.gateway", `${JSON.stringify(n.gateway)} is not an IPv4 address`);
  const block = 2 ** (32 - n.prefixLen);
  if (Math.floor(ip / block) !== Math.floor(gw / block) || ip === gw)
    throw bad("network.gateway", `${n.gateway} is not another address in ${n.ip}/${n.prefixLen}`);
  const first = Number.parseInt(n.mac.slice(0, 2), 16);
  if (!MAC.test(n.mac) || first & 1 || /^(?:00:){5}00$/.test(n.mac))
    throw bad("network.mac", `${JSON.stringify(n.mac)} is not a unicast MAC like 06:00:0a:00:00:02`);
}

/** Throws INVALID_ARGUMENT naming the field the agent would refuse. */
export function checkIdentity(idn: Identity): void {
  if (!HOSTNAME.test(idn.hostname))
    throw bad("hostname", "1 to 64 of a-z, A-Z, 0-9, '-', '.', not first '-' or '.'");
  if (!/^[0-9a-f]{32}$/.test(idn.machineId) || /^0+$/.test(idn.machineId))
    throw bad("machineId", "32 lowercase hex digits, not all zero");
  if (idn.clockMs !== undefined && (!Number.isSafeInteger(idn.clockMs) || idn.clockMs < MIN_CLOCK_MS))
    throw bad("clockMs", `${idn.clockMs} is not a unix epoch in milliseconds`);
  if (idn.entropy !== undefined && (idn.entropy.length < 32 || idn.entropy.length > 4096))
    throw bad("entropy", `${idn.entropy.length} bytes, not 32 to 4096`);
  if (idn.network) checkNetwork(idn.network);
  const key = idn.sshHostKey;
  if (key && !/^-----BEGIN OPENSSH PRIVATE KEY-----\r?\n/.test(key.privateKey))
    throw bad("sshHostKey.privateKey", "not an OpenSSH private key");
  if (key && !/^ssh-ed25519 [A-Za-z0-9+/]+=*(?: [^\r\n]*)?$/.test(key.publicKey.trim()))
    throw bad("sshHostKey.publicKey", 'not one line "ssh-ed25519 KEY [comment]"');
}

/** The request line; clockMs and entropy default to the host's clock now and 64 random bytes. */
export function encodeIdentity(id: number, idn: Identity): string {
  checkIdentity(idn);
  const f = [
    String(id),
    "identity",
    `hostname=${toB64(idn.hostname)}`,
    `machine-id=${idn.machineId}`,
    `clock=${idn.clockMs ?? Date.now()}`,
    `entropy=${toB64(idn.entropy ?? randomBytes(64))}`,
  ];
  const n = idn.network;
  if (n) f.push(`address=${n.ip}/${n.prefixLen}`, `gateway=${n.gateway}`, `mac=${n.mac.toLowerCase()}`);
  const k = idn.sshHostKey;
  if (k) f.push(`ssh-key=${toB64(k.privateKey)}`, `ssh-pub=${toB64(k.publicKey.trim())}`);
  return `${f.join(" ")}\n`;
}

/** The fields after `ID identity` back into an Identity (FakeAgent, tests); a string says what is wrong. */
export function decodeIdentity(fields: readonly string[]): Identity | string {
  const kv = new Map<string, string>();
  for (const field of fields) {
    const eq = field.indexOf("=");
    if (eq <= 0 || kv.has(field.slice(0, eq))) return `bad field ${field.slice(0, 40)}`;
    kv.set(field.slice(0, eq), field.slice(eq + 1));
  }
  const text = (k: string) => fromB64(kv.get(k) ?? "")?.toString("utf8");
  const entropy = fromB64(kv.get("entropy") ?? "");
  const idn: Identity = {
    hostname: text("hostname") ?? "",
    machineId: kv.get("machine-id") ?? "",
    clockMs: Number(kv.get("clock")),
    ...(entropy ? { entropy } : {}),
  };
  const addr = /^([\d.]+)\/(\d+)$/.exec(kv.get("address") ?? "");
  if (addr) {
    const { gateway = "", mac = "" } = Object.fromEntries(kv);
    idn.network = { ip: addr[1]!, prefixLen: Number(addr[2]), gateway, mac };
  }
  if (kv.has("ssh-key"))
    idn.sshHostKey = { privateKey: text("ssh-key") ?? "", publicKey: text("ssh-pub") ?? "" };
  try {
    checkIdentity(idn);
  } catch (e) {
    return (e as Error).message;
  }
  return entropy ? idn : "identity: entropy is missing";
}
