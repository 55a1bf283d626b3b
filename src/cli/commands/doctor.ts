import type { Command } from "commander";
import type { CheckResult, DoctorReport } from "../../api/doctor.js";
import { toBangerError } from "../../errors/index.js";
import type { CliContext } from "../context.js";
import { json, type Out, paint } from "../render/output.js";

/**
 * Checks run in the daemon (its environment is the one VMs run in). When no
 * daemon can be reached, the same checks run here and the daemon check fails.
 */
async function collect(c: CliContext): Promise<DoctorReport> {
  let daemonCheck: CheckResult;
  try {
    const conn = await c.daemon();
    const rep = await conn.client.call("doctor", {});
    daemonCheck = {
      id: "daemon",
      title: "daemon",
      status: "pass",
      detail: `bangerd pid ${conn.ping.pid} on ${conn.ping.socket}${conn.started ? " (started now)" : ""}`,
    };
    return { ...rep, checks: [...rep.checks, daemonCheck] };
  } catch (e) {
    const err = toBangerError(e);
    daemonCheck = {
      id: "daemon",
      title: "daemon",
      status: "fail",
      detail: `not reachable: ${err.message}`,
      fix: err.hint ?? `see ${c.paths.daemonLog}`,
    };
    const { loadConfig } = await import("../../config/index.js");
    const config = await loadConfig(c.paths, c.env);
    const { runDoctor } = await import("../../daemon/doctor.js");
    const rep = await runDoctor(c.paths, config, "cli");
    return { ...rep, ok: false, checks: [...rep.checks, daemonCheck] };
  }
}

const MARK = { pass: "ok  ", warn: "warn", fail: "FAIL" } as const;
const COLOR = { pass: "green", warn: "yellow", fail: "red" } as const;

export function renderDoctor(out: Out, r: DoctorReport): void {
  const w = Math.max(...r.checks.map((c) => c.title.length));
  for (const c of r.checks) {
    out.write(`${paint(out, COLOR[c.status], MARK[c.status])}  ${c.title.padEnd(w)}  ${c.detail}\n`);
    if (c.fix && c.status !== "pass")
      out.write(`      ${"".padEnd(w)}  ${paint(out, "dim", `fix: ${c.fix}`)}\n`);
  }
  const fails = r.checks.filter((c) => c.status === "fail").length;
  const warns = r.checks.filter((c) => c.status === "warn").length;
  out.write(
    `\n${fails ? `${fails} failed, ` : ""}${warns} warning${warns === 1 ? "" : "s"}, ${r.checks.length - fails - warns} passed\n`,
  );
}

export function registerDoctor(program: Command, ctx: () => CliContext): void {
  program
    .command("doctor")
    .description("check the host for everything banger needs, with the command that fixes each problem")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const r = await collect(c);
      if (o.json) json(c.out, r);
      else renderDoctor(c.out, r);
      if (!r.ok) process.exitCode = 1;
    });
}
