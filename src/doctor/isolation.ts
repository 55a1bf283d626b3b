/**
 * doctor's isolation checks: the firewall's tools, host settings that break
 * or bypass banger's policy (a FORWARD chain dropping by default, as Docker
 * sets; br_netfilter handing bridged frames to the IP hooks), and the
 * isolation layers in force, saying plainly that TCG is no hardware boundary.
 */
import { nftObjects, parseForwardDropChains } from "../helper/firewallHost.js";
import { nftTableName } from "../helper/protocol.js";
import { kvmStatus } from "../host/kvm.js";
import type { CheckContext, CheckDef } from "./types.js";

const pass = (detail: string) => ({ status: "pass" as const, detail });
const warn = (detail: string, fix: string) => ({ status: "warn" as const, detail, fix });
const fail = (detail: string, fix: string) => ({ status: "fail" as const, detail, fix });

export const nftCheck: CheckDef = {
  id: "firewall",
  title: "nft and conntrack (VM firewall)",
  async run({ probe }) {
    const nft = await probe.which("nft");
    const ct = await probe.which("conntrack");
    if (!nft) {
      return fail(
        "nft not found: every VM's isolation rules are nftables rules",
        "sudo apt-get install nftables",
      );
    }
    if (!ct) {
      return warn(
        `${nft}; conntrack not found: an egress change cannot cut open connections`,
        "sudo apt-get install conntrack",
      );
    }
    return pass(`${nft}, ${ct}`);
  },
};

export const forwardPolicyCheck: CheckDef = {
  id: "forward-policy",
  title: "FORWARD policy",
  async run({ probe, config }) {
    if (!(await probe.which("nft"))) return warn("cannot check without nft", "sudo apt-get install nftables");
    const r = await probe.run(["nft", "-j", "list", "chains"]);
    if (r?.code !== 0) return pass("not readable without root (run `sudo banger doctor` to check)");
    const drops = parseForwardDropChains(nftObjects(r.stdout));
    if (drops.length === 0) return pass("no forward chain drops by default");
    const sub = config.network.subnet.value;
    const msg = `${drops.join("; ")} drop(s) forwarded packets by default (Docker sets this)`;
    return config.network.nat.value
      ? warn(
          `${msg}: guests' egress is dropped there even where banger allows it`,
          `allow the VM subnet there, e.g. \`sudo iptables -I DOCKER-USER -s ${sub} -j ACCEPT\` and \`-d ${sub} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\``,
        )
      : pass(`${msg}; nat is off, so guests have no egress anyway`);
  },
};

export const brNetfilterCheck: CheckDef = {
  id: "br-netfilter",
  title: "br_netfilter",
  async run({ probe }) {
    const v = (await probe.readText("/proc/sys/net/bridge/bridge-nf-call-iptables"))?.trim();
    if (v === undefined) return pass("not loaded: bridged frames stay at layer 2");
    if (v !== "1") return pass("loaded, bridge-nf-call-iptables = 0");
    return warn(
      "bridge-nf-call-iptables = 1: frames between guests also pass the host's IP firewall hooks, so other firewalls (Docker, ufw) see guest traffic; banger matches guests by their anti-spoofed address, so its isolation holds either way",
      "if another firewall drops or accepts bridged guest traffic unexpectedly: sudo sysctl -w net.bridge.bridge-nf-call-iptables=0",
    );
  },
};

async function tablesLoaded(ctx: CheckContext): Promise<string> {
  const r = await ctx.probe.run(["nft", "list", "table", "inet", nftTableName(ctx.probe.uid)]);
  if (!r) return "nft missing";
  if (r.code === 0) return `loaded (inet/bridge ${nftTableName(ctx.probe.uid)})`;
  return /Operation not permitted|Permission denied/i.test(r.stderr)
    ? "not readable without root"
    : "not loaded (no VM running)";
}

export const isolationLayersCheck: CheckDef = {
  id: "isolation",
  title: "isolation layers",
  async run(ctx) {
    const kvm = (await kvmStatus(ctx.probe)).usable;
    const layers = [
      `nftables per user: guest -> host only DNS on the gateway; guest -> guest dropped (bridge rules + port isolation) unless peers; source MAC/IP/ARP anti-spoofing; IPv6 dropped; egress per VM (${ctx.config.network.nat.value ? "public | allow=... | none" : "none: nat is off"}) — ${await tablesLoaded(ctx)}`,
      `VMM process: QEMU runs as ${ctx.probe.uid === 0 ? "the system user banger-vmm" : "you"}, never root, under its seccomp sandbox (-sandbox on), with no capabilities and NoNewPrivs, in a cgroup per VM (memory, pids, CPU); Firecracker through its jailer when root and a jailer sits beside it, else as you with its own seccomp filters`,
      kvm
        ? "KVM: the guest runs behind hardware virtualisation"
        : "TCG (no /dev/kvm): the VM is NOT a hardware boundary; QEMU's TCG is not a security boundary, so the network rules and the VMM's process limits are the only boundary",
    ];
    const detail = layers.map((l, i) => `${i + 1}. ${l}`).join("\n");
    return kvm
      ? pass(detail)
      : warn(detail, "for untrusted code, prefer a host with /dev/kvm (Firecracker or QEMU with KVM)");
  },
};

/** Where the privileged helper counts which users' banger networks need IPv4 forwarding (see helper/verbs/sysctl.ts). */
const IP_FORWARD_MARKERS = "/run/banger/ip_forward";

export const ipForwardCheck: CheckDef = {
  id: "ip-forward",
  title: "IPv4 forwarding",
  async run({ probe }) {
    const now = (await probe.readText("/proc/sys/net/ipv4/ip_forward"))?.trim() ?? "?";
    const ino = (await probe.run(["stat", "-L", "-c", "%i", "/proc/self/ns/net"]))?.stdout.trim();
    const lo = await probe.run(["ip", "-j", "link", "show", "dev", "lo"]);
    const alias =
      lo?.code === 0
        ? ((JSON.parse(lo.stdout || "[]") as Array<{ ifalias?: string }>)[0]?.ifalias ?? "")
        : "";
    const token = /^banger-netns:([0-9a-f]{16})$/.exec(alias)?.[1];
    const dir = `${IP_FORWARD_MARKERS}/netns-${ino ?? "?"}${token ? `-${token}` : ""}`;
    const ls = await probe.run(["ls", "-1", dir]);
    const names = ls?.code === 0 ? ls.stdout.split("\n").filter(Boolean) : [];
    const users = names.filter((n) => n.startsWith("uid-")).map((n) => n.slice(4));
    const original = (await probe.readText(`${dir}/original`))?.trim();
    if (users.length === 0) {
      return pass(
        `net.ipv4.ip_forward = ${now}; no banger network needs it (banger has changed nothing here)`,
      );
    }
    return pass(
      `net.ipv4.ip_forward = ${now}, set for the banger networks of uid ${users.join(", ")} (markers in ${dir}); ${original === undefined ? "" : `restored to ${original} `}when none of them needs it any more`,
    );
  },
};

export const ISOLATION_CHECKS: readonly CheckDef[] = [
  nftCheck,
  ipForwardCheck,
  forwardPolicyCheck,
  brNetfilterCheck,
  isolationLayersCheck,
];
