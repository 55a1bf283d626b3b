/** Schemas of the daemon's own methods: the handshake (ping) and shutdown. */
import { z } from "zod";

/**
 * The API version the handshake carries. Bump it when a method or field
 * changes incompatibly; adding a method or an optional field does not.
 */
export const API_VERSION = 1;

export const DaemonPaths = z.object({
  configDir: z.string(),
  stateDir: z.string(),
  cacheDir: z.string(),
  runtimeDir: z.string(),
  socket: z.string(),
  dbFile: z.string(),
  logsDir: z.string(),
});

export const PingResult = z.object({
  version: z.string(),
  buildId: z.string(),
  /** When this build was made (ISO); absent from daemons older than this field. */
  builtAt: z.string().optional(),
  /** The `banger` CLI of the daemon's own build (for "use the newer banger at ..."). */
  bin: z.string().optional(),
  /** True while the daemon drains requests before it exits. */
  draining: z.boolean().optional(),
  protocol: z.number(),
  /** See API_VERSION; clients refuse a daemon of another API version. */
  apiVersion: z.number(),
  /** The methods this daemon serves, so a client can tell what it may call. */
  methods: z.array(z.string()),
  pid: z.number(),
  /** Seconds since the daemon started. */
  uptimeSec: z.number(),
  startedAt: z.string(),
  socket: z.string(),
  logPath: z.string(),
  paths: DaemonPaths,
  /** The NAME.vm DNS listener: where it listens, or why it does not. */
  dns: z
    .object({
      listen: z.string().nullable(),
      error: z.string().nullable(),
      records: z.number(),
      queries: z.number(),
    })
    .optional(),
  /** The warm pool ([pool] size): members ready to be claimed, and members still booting. */
  pool: z
    .object({ size: z.number(), ready: z.number(), starting: z.number(), error: z.string().nullable() })
    .optional(),
});

export const ShutdownParams = z.strictObject({
  /** Only shut down when the daemon's build id is this one (used to replace a stale daemon safely). */
  ifBuildId: z.string().optional(),
  /** How long to wait for requests in flight before cutting them (default 30 s). */
  drainMs: z.number().int().min(0).max(600_000).optional(),
});

export const ShutdownResult = z.object({
  shuttingDown: z.boolean(),
  pid: z.number(),
  /** The drain bound the daemon uses: wait at least this long for it to exit. */
  drainMs: z.number().optional(),
});
