import { formatIpv4, parseIpv4 } from "../../config/checks.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { SubnetInfo } from "./NetworkManager.js";

/** The smallest subnet with a gateway and at least one guest address. */
const MAX_PREFIX = 30;

function invalid(cidr: string, why: string): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, `network subnet "${cidr}" ${why}`, {
    hint: 'set [network] subnet to an IPv4 network like "172.30.0.0/24"',
  });
}

/**
 * Parse an IPv4 CIDR into the VM network's facts: the gateway (the bridge's
 * address) is the first host address; guests lease the rest, network and
 * broadcast excluded. Host bits must be zero.
 */
export function parseSubnet(cidr: string): SubnetInfo {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  const ip = m?.[1] === undefined ? null : parseIpv4(m[1]);
  if (m === null || ip === null) throw invalid(cidr, 'is not an IPv4 CIDR like "172.30.0.0/24"');
  const prefix = Number(m[2]);
  if (prefix < 1 || prefix > MAX_PREFIX)
    throw invalid(cidr, `has prefix /${prefix}: use /1 to /${MAX_PREFIX}`);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ip & mask) >>> 0;
  if (network !== ip) {
    throw invalid(cidr, `has host bits set (did you mean "${formatIpv4(network)}/${prefix}"?)`);
  }
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  const normalized = `${formatIpv4(network)}/${prefix}`;
  return {
    cidr: normalized,
    gateway: formatIpv4(network + 1),
    netmask: formatIpv4(mask),
    prefix,
    *guestAddresses(): Generator<string> {
      for (let n = network + 2; n < broadcast; n++) yield formatIpv4(n);
    },
  };
}

/** True when `ip` (dotted quad) lies inside `subnet` (network and broadcast included). */
export function subnetContains(subnet: SubnetInfo, ip: string): boolean {
  const n = parseIpv4(ip);
  const base = parseIpv4(subnet.cidr.split("/")[0] ?? "");
  if (n === null || base === null) return false;
  const mask = (0xffffffff << (32 - subnet.prefix)) >>> 0;
  return (n & mask) >>> 0 === base;
}
