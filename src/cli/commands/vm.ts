import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { type DefaultsView, resolveSpec } from "../defaults.js";
import { stillRunningReminder } from "../reminder.js";
import { json } from "../render/output.js";
import { progressPrinter, wakeLine } from "../render/progress.js";
import { renderVm, vmListTable } from "../render/vm.js";
import { remoteVmSsh, runSsh } from "../ssh.js";
import { registerGuestCommands } from "./guest.js";
import { registerRun, waitReady } from "./run.js";
import { registerVmEgress } from "./vmEgress.js";
import { type CreateOpts, createOptions, intOpt, waitOption } from "./vmOptions.js";
import { registerVmSnapshots } from "./vmSnapshot.js";

type VmRegister = (vm: Command, ctx: () => CliContext, defaults: DefaultsView | null) => void;

/**
 * `banger vm`: with `sub` (the subcommand the command line runs) only the
 * group that defines it is registered, which spares every run the cost of
 * building the other ~15 subcommands; help, or a word that names none, gets all.
 */
export function registerVm(
  program: Command,
  ctx: () => CliContext,
  defaults: DefaultsView | null = null,
  sub?: string,
): void {
  const vm = program.command("vm").description("create, run and manage VMs");
  const one = VM_SUBCOMMANDS.find(([names]) => sub !== undefined && names.includes(sub));
  for (const [, register] of one ? [one] : VM_SUBCOMMANDS) register(vm, ctx, defaults);
}

const registerCreate: VmRegister = (vm, ctx, defaults) => {
  createOptions(vm.command("create"), defaults)
    .description("create a VM (and start it, unless --no-start)")
    .option("--no-start", "create only; start later with `banger vm start`")
    .addOption(waitOption("how long to wait until it is ready (agent, else SSH, else started)"))
    .option("--no-wait", "return as soon as the VMM runs")
    .action(async (o: CreateOpts & { start: boolean; wait: number | false }) => {
      const c = ctx();
      const spec = await resolveSpec(c, o);
      if (!o.json) c.out.err(`spec: ${spec.line}\n`);
      const client = await c.client();
      const v = await client.call(
        "vm.create",
        { ...spec.params, start: o.start },
        { onEvent: progressPrinter(c.out) },
      );
      if (v.state === "running" && o.wait !== false) await waitReady(c, v, o.wait, false);
      if (o.json) return json(c.out, v);
      c.out.write(`${v.name} ${v.state}${v.ip ? ` at ${v.ip}` : ""}\n`);
      if (v.state === "running") c.out.write(`  banger vm ssh ${v.name}\n`);
    });
};

const registerStartRestart: VmRegister = (vm, ctx) => {
  for (const [verb, desc] of [
    ["start", "start a stopped VM, or restore a suspended one"],
    ["restart", "stop a VM and start it again"],
  ] as const) {
    const cmd = vm
      .command(verb)
      .description(desc)
      .argument("<name>", "VM name")
      .addOption(waitOption("how long to wait until it is ready (agent, else SSH, else started)"))
      .option("--no-wait", "return as soon as the VMM runs")
      .option("--json", "print JSON");
    if (verb === "start")
      cmd.option(
        "--discard-state",
        "a suspended VM: throw its saved state away and boot afresh (disks are kept)",
      );
    cmd.action(async (name: string, o: { json?: boolean; wait: number | false; discardState?: boolean }) => {
      const c = ctx();
      const params = verb === "start" && o.discardState ? { name, discardState: true } : { name };
      const v = await (await c.client()).call(`vm.${verb}`, params, { onEvent: progressPrinter(c.out) });
      if (o.wait !== false) await waitReady(c, v, o.wait, false);
      if (o.json) return json(c.out, v);
      c.out.write(`${v.name} ${v.state}${v.ip ? ` at ${v.ip}` : ""}\n`);
    });
  }
};

const registerStop: VmRegister = (vm, ctx) => {
  vm.command("stop")
    .description("stop a VM: the guest shuts down, then the VMM is killed after the timeout")
    .argument("<name>", "VM name")
    .option("--timeout <seconds>", "grace period before the VMM is killed", intOpt(0, 3600), 10)
    .option("--json", "print JSON")
    .action(async (name: string, o: { timeout: number; json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("vm.stop", { name, timeoutMs: o.timeout * 1000 });
      if (o.json) return json(c.out, v);
      c.out.write(`${v.name} ${v.state}\n`);
    });
};

const registerDelete: VmRegister = (vm, ctx) => {
  vm.command("delete")
    .description("delete a VM and everything it owns (disks, address, TAP)")
    .argument("<name>", "VM name")
    .option("-f, --force", "stop it first if it runs")
    .option("--json", "print JSON")
    .action(async (name: string, o: { force?: boolean; json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("vm.delete", { name, force: !!o.force });
      if (o.json) return json(c.out, r);
      c.out.write(`deleted ${r.deleted}\n`);
    });
};

const registerList: VmRegister = (vm, ctx) => {
  vm.command("list")
    .alias("ls")
    .description("list VMs")
    .option("--all", "also the warm pool's ready VMs ([pool] size)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean; all?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("vm.list", o.all ? { all: true } : {});
      if (o.json) return json(c.out, r);
      c.out.write(r.vms.length ? vmListTable(r.vms) : "no VMs (create one with `banger vm create`)\n");
      for (const p of r.problems) c.out.err(`warning: ${p}\n`);
    });
};

const registerShow: VmRegister = (vm, ctx) => {
  vm.command("show")
    .description("everything about a VM: driver, paths, logs, stage timings of the last boot")
    .argument("<name>", "VM name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("vm.show", { name });
      if (o.json) return json(c.out, v);
      renderVm(c.out, v);
    });
};

const registerLogs: VmRegister = (vm, ctx) => {
  vm.command("logs")
    .description(
      "print a VM's console log (or the VMM's log with --vmm); logs are capped and rotated ([logs] in config.toml), and -f follows across rotations",
    )
    .argument("<name>", "VM name")
    .option("-f, --follow", "keep printing new output (every line once, across rotations)")
    .option("--vmm", "the VMM's own log instead of the guest console")
    .action(async (name: string, o: { follow?: boolean; vmm?: boolean }) => {
      const c = ctx();
      await (await c.client()).call(
        "vm.logs",
        { name, source: o.vmm ? "vmm" : "console", follow: !!o.follow },
        { onEvent: (e) => e.kind === "log" && c.out.write(e.data) },
      );
    });
};

const registerSsh: VmRegister = (vm, ctx) => {
  vm.command("ssh")
    .description(
      "open an SSH session to a VM as root, or run a command: `vm ssh NAME -- CMD ARGS...` (each word kept as is) or `vm ssh NAME -- 'shell line'`",
    )
    .argument("<name>", "VM name")
    .argument("[command...]", "command to run instead of a shell")
    .action(async (name: string, command: string[]) => {
      const c = ctx();
      const remote = c.remote();
      if (remote) {
        process.exitCode = await remoteVmSsh(remote, name, command, c.env);
        return;
      }
      const info = await (await c.client()).call("vm.sshInfo", { name }, { onEvent: wakeLine(c) });
      process.exitCode = await runSsh(info, command);
      if (command.length === 0) await stillRunningReminder(ctx(), name);
    });
};

/** The subcommands of `banger vm` in help order, with the names (and aliases) each group registers. */
const VM_SUBCOMMANDS: ReadonlyArray<readonly [readonly string[], VmRegister]> = [
  [["create"], registerCreate],
  [["run"], registerRun],
  [["egress"], (vm, ctx) => registerVmEgress(vm, ctx)],
  [["exec", "cp", "ports", "health", "stats"], (vm, ctx) => registerGuestCommands(vm, ctx)],
  [["start", "restart"], registerStartRestart],
  [["stop"], registerStop],
  [["pause", "resume", "suspend", "fork"], (vm, ctx) => registerVmSnapshots(vm, ctx)],
  [["delete"], registerDelete],
  [["list", "ls"], registerList],
  [["show"], registerShow],
  [["logs"], registerLogs],
  [["ssh"], registerSsh],
];
