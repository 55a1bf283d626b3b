import type { Command } from "commander";
import type { HealthReport } from "../../api/agent.js";
import type { VmView } from "../../api/vms.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { waitFor } from "../../util/poll.js";
import type { CliContext } from "../context.js";
import type { DefaultsView } from "../defaults.js";
import { resolveSpec } from "../defaults.js";
import { stillRunningReminder } from "../reminder.js";
import { json, paint } from "../render/output.js";
import { progressPrinter, wakeLine } from "../render/progress.js";
import { captureSsh, remoteVmSsh, runSsh } from "../ssh.js";
import { type CreateOpts, createOptions, waitOption } from "./vmOptions.js";

interface RunOpts extends CreateOpts {
  rm?: boolean;
  wait: number;
}

/** A shell needs an sshd in the image: say so at once instead of waiting for port 22. */
function requireSshd(vm: VmView): void {
  const caps = vm.image.capabilities;
  if (!caps || caps.sshd) return;
  throw new BangerError(
    ErrorCodes.CONFLICT,
    `image "${vm.image.name}" has no sshd, so there is no shell to open`,
    {
      hint: caps.agent
        ? `run commands with \`banger vm exec ${vm.name} -- CMD\` (through banger's agent)`
        : "add an sshd or banger's agent to the image (docs/images.md)",
    },
  );
}

/** One health check, as the daemon applies the image's readiness rule. */
async function readyNow(c: CliContext, vm: VmView, needSsh: boolean): Promise<true | string> {
  const client = await c.client();
  const h: Pick<HealthReport, "status" | "reason" | "via"> = await client
    .call("vm.health", { name: vm.name }, { timeoutMs: 10_000 })
    .catch((e: Error) => ({ status: "unreachable", reason: e.message }) as const);
  if (h.status === "stopped")
    throw new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}" stopped: ${h.reason}`);
  if (h.status !== "healthy") return h.reason;
  if (!needSsh || h.via !== "agent") return true;
  const p = await client
    .call("vm.ports", { name: vm.name }, { timeoutMs: 10_000 })
    .catch(() => ({ ports: [] }));
  return p.ports.some((x) => x.port === 22)
    ? true
    : "the agent answers; waiting for sshd to listen on port 22";
}

/**
 * Wait until the VM is ready by its image's rule (the agent, else SSH, else
 * started; see docs/images.md) and, for a shell, sshd listens. The same for
 * create, start and run; the error names the console log.
 */
export async function waitReady(c: CliContext, vm: VmView, seconds: number, needSsh = true): Promise<void> {
  if (needSsh) requireSshd(vm);
  let last = "";
  let shown = false;
  const ready = async () => {
    const r = await readyNow(c, vm, needSsh);
    if (r === true) return true;
    last = r;
    if (!shown) c.out.err(paint(c.out, "dim", "… waiting for the guest to come up\n"));
    shown = true;
    return false;
  };
  await waitFor(ready, {
    timeoutMs: seconds * 1000,
    intervalMs: 500,
    what: `VM "${vm.name}" to become ready`,
    onTimeout: () =>
      new BangerError(
        ErrorCodes.TIMEOUT,
        `VM "${vm.name}" did not become ready within ${seconds} s: ${last}`,
        {
          hint: `read its console with \`banger vm logs ${vm.name}\` (${vm.paths.consoleLog})`,
        },
      ),
  });
}

/** After create: wait, then a shell or the command (its output collected with --json). */
async function runIn(c: CliContext, v: VmView, command: string[], o: RunOpts): Promise<number> {
  const client = await c.client();
  const wantShell = !o.json || command.length > 0;
  await waitReady(c, v, o.wait, wantShell);
  if (!wantShell) {
    json(c.out, { vm: await client.call("vm.show", { name: v.name }), command: null });
    return 0;
  }
  const remote = c.remote();
  if (remote) {
    if (o.json) {
      throw new BangerError(
        ErrorCodes.USAGE,
        "vm run --json with a command is not available with a remote host",
        {
          hint: `run the command with \`banger vm exec ${v.name} -- ...\` instead`,
        },
      );
    }
    return remoteVmSsh(remote, v.name, command, c.env);
  }
  const info = await client.call("vm.sshInfo", { name: v.name }, { onEvent: wakeLine(c) });
  if (!o.json) return runSsh(info, command);
  const r = await captureSsh(info, command);
  json(c.out, { vm: await client.call("vm.show", { name: v.name }), command: { argv: command, ...r } });
  return r.exitCode;
}

export function registerRun(vm: Command, ctx: () => CliContext, defaults: DefaultsView | null): void {
  createOptions(vm.command("run"), defaults)
    .description(
      "create and start a VM, wait until it is ready, then open a root shell in it (or run CMD and exit with its code); with --json, print the VM (and CMD's result) as JSON, no shell",
    )
    .argument("[command...]", "command to run instead of an interactive shell (after --)")
    .option("--rm", "delete the VM when the session ends")
    .addOption(waitOption("how long to wait for the guest to come up"))
    .action(async (command: string[], o: RunOpts) => {
      const c = ctx();
      const spec = await resolveSpec(c, o);
      if (!o.json) c.out.err(`spec: ${spec.line}\n`);
      const client = await c.client();
      const v = await client.call(
        "vm.create",
        { ...spec.params, start: true },
        { onEvent: progressPrinter(c.out) },
      );
      let code = 1;
      try {
        code = await runIn(c, v, command, o);
      } finally {
        if (o.rm) {
          await client
            .call("vm.delete", { name: v.name, force: true })
            .catch((e: Error) => c.out.err(`warning: could not delete ${v.name}: ${e.message}\n`));
        } else if (command.length === 0 && !o.json) {
          await stillRunningReminder(c, v.name);
        }
      }
      process.exitCode = code;
    });
}
