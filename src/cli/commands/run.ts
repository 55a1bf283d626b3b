import type { Command } from "commander";
import type { VmView } from "../../api/vms.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CliContext } from "../context.js";
import type { DefaultsView } from "../defaults.js";
import { resolveSpec } from "../defaults.js";
import { stillRunningReminder } from "../reminder.js";
import { paint } from "../render/output.js";
import { progressPrinter } from "../render/progress.js";
import { remoteVmSsh, runSsh } from "../ssh.js";
import { type CreateOpts, createOptions } from "./vmOptions.js";

interface RunOpts extends CreateOpts {
  rm?: boolean;
  wait: number;
}

/**
 * Wait until the guest agent answers (and, for a shell, sshd listens); the
 * error names the console log.
 */
export async function waitReady(c: CliContext, vm: VmView, seconds: number, needSsh = true): Promise<void> {
  const client = await c.client();
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  let shown = false;
  while (Date.now() < deadline) {
    const h = await client
      .call("vm.health", { name: vm.name }, { timeoutMs: 10_000 })
      .catch((e: Error) => ({ status: "error", reason: e.message }) as const);
    if (h.status === "healthy" && !needSsh) return;
    if (h.status === "healthy") {
      const p = await client
        .call("vm.ports", { name: vm.name }, { timeoutMs: 10_000 })
        .catch(() => ({ ports: [] }));
      if (p.ports.some((x) => x.port === 22)) return;
      last = "the agent answers; waiting for sshd to listen on port 22";
    } else {
      last = h.reason;
      if (h.status === "stopped" || h.status === "error") break;
    }
    if (!shown) {
      c.out.err(paint(c.out, "dim", "… waiting for the guest to come up\n"));
      shown = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new BangerError(
    ErrorCodes.TIMEOUT,
    `VM "${vm.name}" did not become ready within ${seconds} s: ${last}`,
    {
      hint: `read its console with \`banger vm logs ${vm.name}\` (${vm.paths.consoleLog})`,
    },
  );
}

export function registerRun(vm: Command, ctx: () => CliContext, defaults: DefaultsView | null): void {
  createOptions(vm.command("run"), defaults)
    .description(
      "create and start a VM, wait until it answers, then open a root shell in it (or run CMD and exit with its code)",
    )
    .argument("[command...]", "command to run instead of an interactive shell (after --)")
    .option("--rm", "delete the VM when the session ends")
    .option("--wait <seconds>", "how long to wait for the guest to come up", (v) => Number(v), 300)
    .action(async (command: string[], o: RunOpts) => {
      const c = ctx();
      const spec = await resolveSpec(c, o);
      c.out.err(`spec: ${spec.line}\n`);
      const client = await c.client();
      const v = await client.call(
        "vm.create",
        { ...spec.params, start: true },
        { onEvent: progressPrinter(c.out) },
      );
      let code = 1;
      try {
        await waitReady(c, v, o.wait);
        const remote = c.remote();
        code = remote
          ? await remoteVmSsh(remote, v.name, command, c.env)
          : await runSsh(await client.call("vm.sshInfo", { name: v.name }), command);
      } finally {
        if (o.rm) {
          await client
            .call("vm.delete", { name: v.name, force: true })
            .catch((e: Error) => c.out.err(`warning: could not delete ${v.name}: ${e.message}\n`));
        } else if (command.length === 0) {
          await stillRunningReminder(c, v.name);
        }
      }
      process.exitCode = code;
    });
}
