import type { Command } from "commander";
import type { VmStats } from "../../api/agent.js";
import type { CliContext } from "../context.js";
import { formatUptime, json, type Out, paint, table } from "../render/output.js";
import { humanBytes } from "../render/vm.js";
import { registerCp } from "./cp.js";
import { registerExec } from "./exec.js";

function statsRows(stats: VmStats[]): string[][] {
  return stats.map((s) => {
    const g = s.guest;
    const mem = g
      ? `${humanBytes(g.memory.totalBytes - g.memory.availableBytes)}/${humanBytes(g.memory.totalBytes)}`
      : "-";
    const root = g?.disks.find((d) => d.mount === "/root");
    return [
      s.name,
      s.state,
      s.cpuPercent === null ? "-" : `${s.cpuPercent.toFixed(1)}%`,
      s.rssBytes === null ? "-" : humanBytes(s.rssBytes),
      g ? g.load.map((l) => l.toFixed(2)).join(" ") : "-",
      mem,
      root ? `${humanBytes(root.usedBytes)}/${humanBytes(root.totalBytes)}` : "-",
      g ? formatUptime(Math.round(g.uptimeSec)) : "-",
    ];
  });
}

function renderStats(out: Out, stats: VmStats[]): void {
  out.write(
    table([
      ["NAME", "STATE", "VMM CPU", "VMM RSS", "LOAD", "GUEST MEM", "/root", "GUEST UP"],
      ...statsRows(stats),
    ]),
  );
}

type GuestRegister = (vm: Command, ctx: () => CliContext) => void;

export function registerGuestCommands(vm: Command, ctx: () => CliContext): void {
  registerExec(vm, ctx);
  registerCp(vm, ctx);
  for (const register of [vmPorts, vmHealth, vmStats]) register(vm, ctx);
}

const vmPorts: GuestRegister = (vm, ctx) => {
  vm.command("ports")
    .description("TCP ports listening in the guest, with NAME.vm:PORT addresses")
    .argument("<name>", "VM name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("vm.ports", { name });
      if (o.json) return json(c.out, r);
      if (!r.ports.length) return c.out.write("no listening TCP ports\n");
      c.out.write(
        table([
          ["PROTO", "ADDRESS", "PORT", "URL"],
          ...r.ports.map((p) => [p.proto, p.address, String(p.port), p.url]),
        ]),
      );
    });
};

const vmHealth: GuestRegister = (vm, ctx) => {
  vm.command("health")
    .description(
      "healthy / starting / unreachable / stopped, with the reason (the agent, else SSH, else the VMM); exits 0 only when healthy",
    )
    .argument("<name>", "VM name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const h = await (await c.client()).call("vm.health", { name });
      if (h.status !== "healthy") process.exitCode = 1;
      if (o.json) return json(c.out, h);
      const color = h.status === "healthy" ? "green" : h.status === "starting" ? "yellow" : "red";
      c.out.write(`${h.name}: ${paint(c.out, color, h.status)} — ${h.reason}\n`);
      if (h.guest) {
        const g = h.guest;
        c.out.write(
          `  up ${formatUptime(Math.round(g.uptimeSec))} · load ${g.load.map((l) => l.toFixed(2)).join(" ")} · memory ${humanBytes(g.memory.availableBytes)} free of ${humanBytes(g.memory.totalBytes)}\n`,
        );
        for (const d of g.disks)
          c.out.write(`  ${d.mount}: ${humanBytes(d.usedBytes)} used of ${humanBytes(d.totalBytes)}\n`);
      }
    });
};

const vmStats: GuestRegister = (vm, ctx) => {
  vm.command("stats")
    .description("VMM CPU and memory, guest load, memory and disk (sampled every stats_poll_interval)")
    .argument("[name]", "one VM (default: all)")
    .option("-w, --watch", "refresh as new samples arrive")
    .option("--json", "print JSON")
    .action(async (name: string | undefined, o: { watch?: boolean; json?: boolean }) => {
      const c = ctx();
      const client = await c.client();
      const get = async () => (await client.call("vm.stats", name ? { name } : {})).stats;
      if (o.json && !o.watch) return json(c.out, { stats: await get() });
      if (!o.watch) return renderStats(c.out, await get());
      const draw = async () => {
        const s = await get();
        if (o.json) return c.out.write(`${JSON.stringify({ stats: s })}\n`);
        if (process.stdout.isTTY) c.out.write("\u001b[H\u001b[2J");
        renderStats(c.out, s);
      };
      await draw();
      await client.call(
        "events.watch",
        {},
        { onEvent: (e) => e.kind === "change" && e.topic === "stats" && void draw() },
      );
    });
};
