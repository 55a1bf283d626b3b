/**
 * iproute2 and firewall argv builders. Pure: they return argument arrays; the
 * Sudo wrapper runs them. Every privileged network command banger runs is
 * built here, so the sudoers allowlist can be derived from this file.
 */

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Throws on a name the kernel would reject or that could be read as an option. */
export function checkIfName(name: string): string {
  if (!IFNAME_RE.test(name) || name.startsWith("-")) throw new Error(`invalid interface name "${name}"`);
  return name;
}

export const netArgv = {
  linkShow: (dev: string) => ["ip", "-j", "link", "show", "dev", checkIfName(dev)],
  linkShowAll: () => ["ip", "-j", "link", "show"],
  addrShow: (dev: string) => ["ip", "-j", "addr", "show", "dev", checkIfName(dev)],
  bridgeAdd: (br: string) => ["ip", "link", "add", "name", checkIfName(br), "type", "bridge"],
  addrAdd: (dev: string, cidr: string) => ["ip", "addr", "replace", cidr, "dev", checkIfName(dev)],
  linkUp: (dev: string) => ["ip", "link", "set", "dev", checkIfName(dev), "up"],
  linkDelete: (dev: string) => ["ip", "link", "delete", "dev", checkIfName(dev)],
  /** A TAP owned by `uid`, so an unprivileged VMM can open it. */
  tapAdd: (tap: string, uid: number, gid: number) => [
    "ip",
    "tuntap",
    "add",
    "dev",
    checkIfName(tap),
    "mode",
    "tap",
    "user",
    String(uid),
    "group",
    String(gid),
  ],
  setMaster: (dev: string, br: string) => [
    "ip",
    "link",
    "set",
    "dev",
    checkIfName(dev),
    "master",
    checkIfName(br),
  ],
} as const;

/** nftables NAT: one table of banger's own, so add and remove are idempotent and never touch other rules. */
export const NFT_TABLE = "banger_nat";

export function nftNatRuleset(bridge: string, subnet: string): string {
  checkIfName(bridge);
  return [
    `table ip ${NFT_TABLE} {`,
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    ip saddr ${subnet} oifname != "${bridge}" masquerade`,
    "  }",
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    `    iifname "${bridge}" accept`,
    `    oifname "${bridge}" ct state established,related accept`,
    "  }",
    "}",
  ].join("\n");
}

export const nftArgv = {
  /** Reads the ruleset from stdin (`-f -`). */
  load: () => ["nft", "-f", "-"],
  deleteTable: () => ["nft", "delete", "table", "ip", NFT_TABLE],
  listTable: () => ["nft", "list", "table", "ip", NFT_TABLE],
} as const;

export const sysctlArgv = {
  ipForward: (on: boolean) => ["sysctl", "-q", "-w", `net.ipv4.ip_forward=${on ? 1 : 0}`],
} as const;
