/** Types shared by the log writer's spawner and the VM logs (kept apart so neither imports the other). */
export interface LogIdentity {
  uid: number;
  gid: number;
}

/** The size cap of each log file and how many rotated files are kept (config [logs]). */
export interface LogCaps {
  maxBytes: number;
  keep: number;
}
