/** Schemas of what the guest agent reports and of commands run through it (vm.exec). */
import { z } from "zod";
import { Int, Name } from "./common.js";

export const GuestHealth = z.object({
  uptimeSec: z.number(),
  load: z.tuple([z.number(), z.number(), z.number()]),
  memory: z.object({ totalBytes: z.number(), availableBytes: z.number() }),
  disks: z.array(z.object({ mount: z.enum(["/", "/root"]), totalBytes: z.number(), usedBytes: z.number() })),
});

export const HealthReport = z.object({
  name: z.string(),
  /** healthy: the agent answered; starting: the VMM runs but the agent has not answered yet (booting); unreachable: it should answer and does not. */
  status: z.enum(["healthy", "starting", "unreachable", "stopped"]),
  /** What was checked (the image's readiness rule): the agent, SSH on port 22, or only the VMM. */
  via: z.enum(["agent", "ssh", "started"]).optional(),
  reason: z.string(),
  guest: GuestHealth.nullable(),
  checkedAt: z.string(),
});

export const ListeningPort = z.object({
  proto: z.enum(["tcp", "tcp6"]),
  address: z.string(),
  port: z.number(),
  /** NAME.vm:PORT */
  url: z.string(),
});

export const VmStats = z.object({
  name: z.string(),
  state: z.string(),
  /** VMM process CPU use, percent of one core, over the last sample interval. */
  cpuPercent: z.number().nullable(),
  rssBytes: z.number().nullable(),
  guest: GuestHealth.nullable(),
  sampledAt: z.string().nullable(),
});

export const VmExecParams = z.strictObject({
  name: Name,
  argv: z.array(z.string()).min(1, "must name a command (a non-empty array of strings)"),
  /** Working directory in the guest (default /root). */
  cwd: z.string().min(1).optional(),
  env: z.record(z.string(), z.string()).optional(),
  /** Kill the command after this long; the result is then exit code 124 with timedOut. */
  timeoutMs: Int(1, 24 * 3_600_000).optional(),
  /**
   * The command's stdin: bytes (base64), closed after them; or `true`: the caller
   * streams it with call.input (data, eof). Absent: closed at once.
   */
  stdin: z
    .union([z.literal(true), z.base64("must be base64 (or true to stream it with call.input)")])
    .optional(),
  /** Run on a pty of this size in the guest (stdout carries all output). */
  pty: z.strictObject({ rows: Int(1, 4096), cols: Int(1, 4096) }).optional(),
});

export const VmExecResult = z.object({
  exitCode: z.number(),
  /** True when timeoutMs ran out and the command was killed (exitCode is then the killed process's). */
  timedOut: z.boolean().optional(),
});

export const VmStatsParams = z.strictObject({ name: Name.optional() });

export const VmWaitReadyParams = z.strictObject({
  name: Name,
  /** Give up after this long (default 120 000 ms). */
  timeoutMs: Int(1, 3_600_000).optional(),
});
