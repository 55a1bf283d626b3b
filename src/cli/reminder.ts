import type { CliContext } from "./context.js";
import { formatUptime, paint } from "./render/output.js";

/**
 * After an interactive session: a one-line reminder when the VM still runs,
 * checked through the guest agent (its uptime), falling back to the daemon's view.
 */
export async function stillRunningReminder(c: CliContext, name: string): Promise<void> {
  try {
    const client = await c.client();
    const h = await client.call("vm.health", { name }, { timeoutMs: 5000 }).catch(() => null);
    let uptime: number | null = h?.guest?.uptimeSec ?? null;
    if (!h || h.status === "stopped") {
      const v = await client.call("vm.show", { name });
      if (v.state !== "running") return;
      uptime = v.uptimeSec;
    }
    const up = uptime === null ? "" : ` (up ${formatUptime(Math.round(uptime))})`;
    c.out.err(paint(c.out, "dim", `${name} is still running${up} — stop it with: banger vm stop ${name}\n`));
  } catch {
    /* the reminder is a courtesy; never fail the session over it */
  }
}
