/**
 * The daemon's watch over the VMs' log writers: a writer that died while its
 * VM runs cannot be replaced (the VMM holds the write end of a pipe nobody
 * reads; QEMU ignores SIGPIPE and drops the output), so it is reported, once,
 * in the daemon log and in `vm show`.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { Vm } from "../model/vm.js";
import { vmPaths } from "../services/vms/views.js";
import { loggerPidFile, runningLogger } from "../vmm/logger/vmLogs.js";

export function logWriterWatch(running: () => Vm[], log: Logger): () => Promise<void> {
  const reported = new Set<string>();
  return async () => {
    for (const vm of running()) {
      const dir = path.dirname(vmPaths(vm.vmDir).consoleLog);
      const pid = Number.parseInt(await readFile(loggerPidFile(dir), "utf8").catch(() => ""), 10);
      if (!Number.isInteger(pid)) continue;
      const key = `${vm.id}:${pid}`;
      if (reported.has(key) || (await runningLogger(dir)) === pid) continue;
      reported.add(key);
      log.warn(
        { vm: vm.name, pid },
        "the VM's log writer is gone: its console is not recorded until it restarts",
      );
    }
  };
}
