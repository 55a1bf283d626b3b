/** `banger vm pause|resume|suspend|fork`: frozen, saved and cloned VMs. */
import type { Command } from "commander";
import type { VmView } from "../../api/vms.js";
import type { CliContext } from "../context.js";
import { json } from "../render/output.js";
import { progressPrinter } from "../render/progress.js";
import { waitReady } from "./run.js";
import { intOpt, waitOption } from "./vmOptions.js";

const MIB = 1024 * 1024;

function line(v: VmView): string {
  const saved = v.saved ? ` (state saved: ${Math.ceil(v.saved.diskBytes / MIB)} MiB on disk)` : "";
  return `${v.name} ${v.state}${v.ip ? ` at ${v.ip}` : ""}${saved}\n`;
}

export function registerVmSnapshots(vm: Command, ctx: () => CliContext): void {
  vm.command("pause")
    .description("freeze a running VM's vCPUs (it keeps its memory, address and TAP)")
    .argument("<name>", "VM name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("vm.pause", { name });
      if (o.json) return json(c.out, v);
      c.out.write(line(v));
    });

  vm.command("resume")
    .description("run a paused VM on, or restore a suspended one from its saved state")
    .argument("<name>", "VM name")
    .addOption(waitOption("how long to wait until it is ready (agent, else SSH, else started)"))
    .option("--no-wait", "return as soon as the VMM runs")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean; wait: number | false }) => {
      const c = ctx();
      const v = await (await c.client()).call("vm.resume", { name }, { onEvent: progressPrinter(c.out) });
      if (o.wait !== false) await waitReady(c, v, o.wait, false);
      if (o.json) return json(c.out, v);
      c.out.write(line(v));
    });

  vm.command("suspend")
    .description(
      "save a VM's whole state (memory, processes, open files) into its directory and end its VMM; `vm start` or `vm resume` restores it",
    )
    .argument("<name>", "VM name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("vm.suspend", { name }, { onEvent: progressPrinter(c.out) });
      if (o.json) return json(c.out, v);
      c.out.write(line(v));
    });

  vm.command("fork")
    .description(
      "clone a running, paused or suspended VM: each clone starts with its memory and disks, and gets its own name, address, MAC, machine-id and host key",
    )
    .argument("<source>", "the VM to clone")
    .option("--name <name>", "the clone's name; with --count N: NAME-1 ... NAME-N (default: random names)")
    .option("--count <n>", "how many clones (1-16)", intOpt(1, 16), 1)
    .option("--json", "print the clones as JSON")
    .action(async (source: string, o: { name?: string; count: number; json?: boolean }) => {
      const c = ctx();
      const params = { source, count: o.count, ...(o.name ? { name: o.name } : {}) };
      const r = await (await c.client()).call("vm.fork", params, { onEvent: progressPrinter(c.out) });
      if (o.json) return json(c.out, r.vms);
      for (const v of r.vms) c.out.write(line(v));
    });
}
