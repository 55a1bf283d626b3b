/** `banger vm egress NAME [POLICY] [--peer NAME]... [--no-peers]`: show or change a VM's outbound policy. */
import type { Command } from "commander";
import type { VmEgressView } from "../../api/vms.js";
import type { CliContext } from "../context.js";
import type { Out } from "../render/output.js";
import { json } from "../render/output.js";
import { collect, EGRESS_FLAG_HELP, PEER_FLAG_HELP } from "./vmOptions.js";

export function registerVmEgress(vm: Command, ctx: () => CliContext): void {
  vm.command("egress")
    .description(
      "show a VM's outbound policy (allow set with expiries, drop counters), or change it on a running VM without a restart (its open connections are cut)",
    )
    .argument("<name>", "VM name")
    .argument("[policy]", EGRESS_FLAG_HELP)
    .option("--peer <name>", `${PEER_FLAG_HELP}; replaces the peer list`, collect)
    .option("--no-peers", "remove every peer")
    .option("--json", "print JSON")
    .action(
      async (
        name: string,
        policy: string | undefined,
        o: { peer?: string[]; peers: boolean; json?: boolean },
      ) => {
        const c = ctx();
        const peers = o.peers === false ? [] : o.peer;
        const v = await (await c.client()).call("vm.egress", {
          name,
          ...(policy !== undefined ? { egress: policy } : {}),
          ...(peers !== undefined ? { peers } : {}),
        });
        if (o.json) return json(c.out, v);
        renderEgress(c.out, v);
      },
    );
}

export function renderEgress(out: Out, v: VmEgressView): void {
  const lines = [`${v.name}: egress ${v.egress.policy}${v.nat ? "" : " (nat is off: no egress at all)"}`];
  lines.push(
    `  peers: ${v.egress.peers.length ? v.egress.peers.join(", ") : "none (isolated from other VMs)"}`,
  );
  if (v.flushed !== undefined) lines.push(`  changed; ${v.flushed} open connection(s) cut`);
  if (!v.running) lines.push("  not running: the policy applies at the next start");
  else if (!v.firewall) lines.push("  firewall state unavailable (see `banger doctor`)");
  else {
    const f = v.firewall;
    lines.push(
      `  dropped: ${f.dropped.packets} packets (policy), ${f.spoofDropped.packets} frames (anti-spoofing)`,
    );
    if (v.egress.mode === "allow") {
      lines.push(
        `  allowed addresses: ${f.allowed.length ? "" : "none yet (filled as the guest resolves allowed names)"}`,
      );
      for (const a of f.allowed)
        lines.push(`    ${a.ip}${a.expiresS !== null ? ` (expires in ${a.expiresS}s)` : ""}`);
    }
  }
  out.write(`${lines.join("\n")}\n`);
}
