/**
 * bangerd's composition root: the only place that wires real adapters.
 *
 *   bangerd            run in the foreground (logs to the log file)
 *   bangerd --notify   as started by the CLI: write one JSON line to stdout
 *                      ({"ready":true,...} or {"error":{...}}) and close it
 */
import { closeSync, openSync } from "node:fs";
import { loadConfig, resolvePaths } from "../config/index.js";
import { BangerError, ErrorCodes, toBangerError } from "../errors/index.js";
import type { Handler } from "../rpc/server.js";
import { SqliteStore } from "../store/sqlite/SqliteStore.js";
import { armFault } from "../vmm/fault.js";
import { type Composed, compose } from "./compose.js";
import { Daemon } from "./Daemon.js";
import { createDoctorHandler } from "./doctor.js";
import { createLogger } from "./logger.js";

function notify(enabled: boolean, msg: object): void {
  if (!enabled) return;
  try {
    process.stdout.write(`${JSON.stringify(msg)}\n`);
  } catch {
    /* the CLI that started us is gone */
  }
}

/** Point stdout at /dev/null after notifying, so a gone CLI never breaks a write. */
function detachStdout(): void {
  const fd = openSync("/dev/null", "w");
  process.stdout.end();
  closeSync(fd);
}

export async function main(argv: string[]): Promise<number> {
  const notifyMode = argv.includes("--notify");
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      "usage: bangerd [--notify]\n  banger's daemon; normally started by the banger CLI.\n",
    );
    return 0;
  }
  let daemon: Daemon | undefined;
  try {
    armFault(process.env.BANGER_FAULT); // test-only kill point; inert when unset
    const paths = resolvePaths(process.env);
    const config = await loadConfig(paths, process.env);
    const { log, flush } = createLogger(paths.daemonLog, config.log_level.value, {
      maxBytes: config.logs.max_size.value,
      keep: config.logs.keep.value,
    });
    const handlers = new Map<string, Handler>();
    handlers.set("doctor", createDoctorHandler(paths, config));
    let store: SqliteStore | undefined;
    let services: Composed | undefined;
    daemon = new Daemon({
      paths,
      config,
      log,
      handlers,
      status: () => services?.status() ?? {},
      onClose: async () => {
        await services?.stop();
        store?.close();
        flush();
      },
    });
    // The lock comes first: only the one daemon of this state dir opens and migrates the store.
    await daemon.start(async () => {
      store = new SqliteStore(paths.dbFile);
      const m = store.migrate();
      if (m.applied.length) log.info({ from: m.from, to: m.to }, "store migrated");
      services = compose(paths, config, store, log);
      for (const [k, v] of services.handlers) handlers.set(k, v);
      await services.start();
    });
    const d = daemon;
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => void d.shutdown(sig));
    process.on("SIGHUP", () => log.info("SIGHUP ignored: restart the daemon to reload config.toml"));
    notify(notifyMode, { ready: true, pid: process.pid, socket: paths.socket });
    if (notifyMode) detachStdout();
    await daemon.done;
    return 0;
  } catch (e) {
    const err = toBangerError(e);
    notify(notifyMode, { error: err.toPayload() });
    if (!notifyMode)
      process.stderr.write(`bangerd: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}\n`);
    await daemon?.shutdown("start-up failed");
    return err.code === ErrorCodes.CONFIG_INVALID || err.code === ErrorCodes.PATHS_INVALID ? 2 : 1;
  }
}

export { BangerError };
