import { type Command, InvalidArgumentError } from "commander";
import type { VmCreateParams } from "../../api/vms.js";
import { parseSize } from "../../config/sizes.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CliContext } from "../context.js";
import { stillRunningReminder } from "../reminder.js";
import { json } from "../render/output.js";
import { progressPrinter } from "../render/progress.js";
import { renderVm, vmListTable } from "../render/vm.js";
import { runSsh } from "../ssh.js";

const MiB = 1024 * 1024;

function sizeOpt(field: string) {
  return (v: string) => {
    try {
      return parseSize(v, field);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function intOpt(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

interface CreateOpts {
  name?: string;
  image?: string;
  vcpu?: number;
  memory?: number;
  diskSize?: number;
  start: boolean;
  json?: boolean;
}

function createParams(o: CreateOpts): VmCreateParams {
  if (o.memory !== undefined && o.memory % MiB !== 0) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "--memory must be a whole number of MiB", {
      hint: "for example --memory 2G or --memory 1536M",
    });
  }
  return {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.vcpu !== undefined ? { vcpu: o.vcpu } : {}),
    ...(o.memory !== undefined ? { memoryMib: o.memory / MiB } : {}),
    ...(o.diskSize !== undefined ? { diskSizeBytes: o.diskSize } : {}),
    start: o.start,
  };
}

export function registerVm(program: Command, ctx: () => CliContext): void {
  const vm = program.command("vm").description("create, run and manage VMs");

  vm.command("create")
    .description("create a VM (and start it, unless --no-start)")
    .option("--name <name>", "a DNS label (default: a random adjective-noun)")
    .option("--image <image>", "image to create from (default: default_image_name from config)")
    .option(
      "--vcpu <n>",
      "vCPUs (default: [vm_defaults] or host-derived; see `banger doctor`)",
      intOpt(1, 64),
    )
    .option("--memory <size>", "memory, e.g. 512M, 2G", sizeOpt("--memory"))
    .option("--disk-size <size>", "work disk (/root) size, e.g. 8G", sizeOpt("--disk-size"))
    .option("--no-start", "create only; start later with `banger vm start`")
    .option("--json", "print JSON")
    .action(async (o: CreateOpts) => {
      const c = ctx();
      const client = await c.client();
      const v = await client.call("vm.create", createParams(o), { onEvent: progressPrinter(c.out) });
      if (o.json) return json(c.out, v);
      c.out.write(`${v.name} ${v.state}${v.ip ? ` at ${v.ip}` : ""}\n`);
      if (v.state === "running") c.out.write(`  banger vm ssh ${v.name}\n`);
    });

  for (const [verb, desc] of [
    ["start", "start a stopped VM"],
    ["restart", "stop a VM and start it again"],
  ] as const) {
    vm.command(verb)
      .description(desc)
      .argument("<name>", "VM name")
      .option("--json", "print JSON")
      .action(async (name: string, o: { json?: boolean }) => {
        const c = ctx();
        const v = await (await c.client()).call(`vm.${verb}`, { name }, { onEvent: progressPrinter(c.out) });
        if (o.json) return json(c.out, v);
        c.out.write(`${v.name} ${v.state}${v.ip ? ` at ${v.ip}` : ""}\n`);
      });
  }

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

  vm.command("list")
    .alias("ls")
    .description("list VMs")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("vm.list", {});
      if (o.json) return json(c.out, r);
      c.out.write(r.vms.length ? vmListTable(r.vms) : "no VMs (create one with `banger vm create`)\n");
      for (const p of r.problems) c.out.err(`warning: ${p}\n`);
    });

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

  vm.command("logs")
    .description("print a VM's console log (or the VMM's log with --vmm)")
    .argument("<name>", "VM name")
    .option("-f, --follow", "keep printing new output")
    .option("--vmm", "the VMM's own log instead of the guest console")
    .action(async (name: string, o: { follow?: boolean; vmm?: boolean }) => {
      const c = ctx();
      await (await c.client()).call(
        "vm.logs",
        { name, source: o.vmm ? "vmm" : "console", follow: !!o.follow },
        { onEvent: (e) => e.kind === "log" && c.out.write(e.data) },
      );
    });

  vm.command("ssh")
    .description(
      "open an SSH session to a VM as root, or run a command: `vm ssh NAME -- CMD ARGS...` (each word kept as is) or `vm ssh NAME -- 'shell line'`",
    )
    .argument("<name>", "VM name")
    .argument("[command...]", "command to run instead of a shell")
    .action(async (name: string, command: string[]) => {
      const c = ctx();
      const info = await (await c.client()).call("vm.sshInfo", { name });
      process.exitCode = await runSsh(info, command);
      if (command.length === 0) await stillRunningReminder(ctx(), name);
    });
}
