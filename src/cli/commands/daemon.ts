import type { Command } from "commander";
import type { PingResult } from "../../api/methods.js";
import { buildInfo } from "../../buildInfo.js";
import type { CliContext } from "../context.js";
import { ensureDaemon, relationTo, stopDaemon, tryConnect } from "../daemonControl.js";
import { formatUptime, json, table } from "../render/output.js";

export interface DaemonStatus extends PingResult {
  running: true;
  /** True when this command had to start (or replace) the daemon. */
  started: boolean;
}

function renderStatus(ctx: CliContext, s: DaemonStatus, asJson: boolean): void {
  if (asJson) {
    json(ctx.out, s);
    return;
  }
  ctx.out.write(
    `bangerd ${s.started ? "started" : "running"} (pid ${s.pid}, up ${formatUptime(s.uptimeSec)})\n`,
  );
  ctx.out.write(
    table([
      ["  version", `${s.version} (build ${s.buildId}, protocol ${s.protocol})`],
      ["  socket", s.socket],
      ["  log", s.logPath],
      ["  state", s.paths.stateDir],
      ["  config", s.paths.configDir],
      [
        "  dns",
        s.dns
          ? s.dns.listen
            ? `${s.dns.listen} (udp+tcp), ${s.dns.records} NAME.vm records`
            : `not listening: ${s.dns.error}`
          : "-",
      ],
      [
        "  warm pool",
        s.pool
          ? `${s.pool.ready} ready, ${s.pool.starting} starting (size ${s.pool.size})${s.pool.error ? `; refill failed: ${s.pool.error}` : ""}`
          : "off ([pool] size = 0)",
      ],
    ]),
  );
}

async function status(ctx: CliContext): Promise<DaemonStatus> {
  const c = await ctx.daemon();
  return { running: true, started: c.started, ...c.ping };
}

/** Exit code of `daemon status` when no daemon runs (LSB: "program is not running"). */
export const NOT_RUNNING_EXIT = 3;

/** `daemon status`: report, never start or replace a daemon. */
async function statusOnly(c: CliContext, asJson: boolean): Promise<void> {
  const d = await tryConnect(c.paths);
  if (!d) {
    if (asJson) json(c.out, { running: false });
    else c.out.write("bangerd is not running (start it with `banger daemon start`)\n");
    process.exitCode = NOT_RUNNING_EXIT;
    return;
  }
  d.client.close();
  const rel = relationTo(d.ping, buildInfo());
  renderStatus(c, { running: true, started: false, ...d.ping }, asJson);
  if (!asJson && rel !== "same")
    c.out.err(
      rel === "older"
        ? "note: the daemon is an older build; the next command that needs it replaces it\n"
        : `note: the daemon is a ${rel === "newer" ? "newer" : "different"} build than this banger; it is used as it is\n`,
    );
}

export function registerDaemon(program: Command, ctx: () => CliContext): void {
  const d = program.command("daemon").description("manage bangerd, the per-user daemon that owns all VMs");

  d.command("status")
    .description(
      `show the daemon; never starts one (exit code ${NOT_RUNNING_EXIT} and {"running":false} when none runs)`,
    )
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => statusOnly(ctx(), !!o.json));

  d.command("start")
    .description("start the daemon if it is not running")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      renderStatus(c, await status(c), !!o.json);
    });

  d.command("stop")
    .description("stop the daemon (running VMs keep running)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const pid = await stopDaemon(c.paths);
      if (o.json) return json(c.out, { stopped: pid !== null, pid });
      c.out.write(pid === null ? "bangerd is not running\n" : `bangerd stopped (pid ${pid})\n`);
    });

  d.command("restart")
    .description("stop the daemon and start it again (running VMs keep running)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const c = ctx();
      const old = await stopDaemon(c.paths);
      const conn = await ensureDaemon(c.paths);
      conn.client.close();
      const s: DaemonStatus = { running: true, started: true, ...conn.ping };
      if (o.json) return json(c.out, { previousPid: old, ...s });
      renderStatus(c, s, false);
    });
}

export { tryConnect };
