/**
 * Every daemon method's params and result, defined once. The daemon validates
 * params against this table (validate.ts); src/api/methods.ts derives the
 * static types every client uses from it (type-only, so the CLI never loads
 * zod); MCP builds its tool input schemas from the same field schemas.
 * Adding a method: add its schemas here (one module per area) and its handler.
 */
import { z } from "zod";
import * as agent from "./agent.js";
import * as catalog from "./catalog.js";
import { Deleted, NoParams, RefParams } from "./common.js";
import * as daemon from "./daemon.js";
import * as doctor from "./doctor.js";
import * as files from "./files.js";
import * as vms from "./vms.js";

const m = <P extends z.ZodType, R extends z.ZodType>(params: P, result: R) => ({ params, result });

export const methodSchemas = {
  ping: m(NoParams, daemon.PingResult),
  shutdown: m(daemon.ShutdownParams, daemon.ShutdownResult),
  doctor: m(NoParams, doctor.DoctorReport),
  "vm.create": m(vms.VmCreateParams, vms.VmView),
  "vm.start": m(vms.VmStartParams, vms.VmView),
  /** Freeze the vCPUs (RAM, TAP and address are kept). */
  "vm.pause": m(RefParams, vms.VmView),
  /** A paused VM runs on; a suspended one is restored from its saved state (streams progress). */
  "vm.resume": m(RefParams, vms.VmView),
  /** Save the VM's state to its directory and end its VMM (streams progress). */
  "vm.suspend": m(RefParams, vms.VmView),
  /** Clones with the source's memory and disks (streams progress). */
  "vm.fork": m(vms.VmForkParams, z.object({ vms: z.array(vms.VmView) })),
  "vm.stop": m(vms.VmStopParams, vms.VmView),
  "vm.restart": m(vms.VmStopParams, vms.VmView),
  "vm.delete": m(vms.VmDeleteParams, Deleted),
  "vm.list": m(vms.VmListParams, vms.VmListResult),
  "vm.show": m(RefParams, vms.VmView),
  "vm.egress": m(vms.VmEgressParams, vms.VmEgressView),
  /** Streams `log` events; with follow, ends only when the caller disconnects. */
  "vm.logs": m(vms.VmLogsParams, z.object({ bytes: z.number() })),
  "vm.sshInfo": m(RefParams, vms.SshInfo),
  "image.register": m(vms.ImageRegisterParams, vms.ImageView),
  "image.list": m(NoParams, z.object({ images: z.array(vms.ImageView) })),
  "image.show": m(RefParams, vms.ImageView),
  "image.delete": m(RefParams, Deleted),
  /** Streams progress; falls back to the recipe when the bundle cannot be downloaded. */
  "image.pull": m(catalog.PullParams, vms.ImageView),
  "image.buildRecipe": m(RefParams, vms.ImageView),
  "image.build": m(vms.ImageBuildParams, vms.ImageView),
  "image.export": m(vms.ImageExportParams, z.object({ bundle: z.string(), entry: z.string() })),
  "image.available": m(NoParams, catalog.Entries),
  "kernel.list": m(NoParams, z.object({ kernels: z.array(catalog.KernelView) })),
  "kernel.show": m(RefParams, catalog.KernelView),
  "kernel.delete": m(RefParams, Deleted),
  "kernel.pull": m(catalog.PullParams, catalog.KernelView),
  "kernel.available": m(NoParams, catalog.Entries),
  "vm.health": m(RefParams, agent.HealthReport),
  /** Returns once the guest agent answers (status healthy) or the VM is not running (status stopped). */
  "vm.waitReady": m(agent.VmWaitReadyParams, agent.HealthReport),
  /** Streams exec-output events; the result carries the exit code. */
  "vm.exec": m(agent.VmExecParams, agent.VmExecResult),
  /** Input into a call in flight on the same connection (exec stdin, signals, resizes; cp entries, data, credit). */
  "call.input": m(files.CallInput, z.null()),
  /** Copy into the guest: the client sends entries and data with call.input. */
  "vm.cpIn": m(files.CpInParams, files.CpResult),
  /** Copy out of the guest: file-entry / file-data events, paced by call.input credit. */
  "vm.cpOut": m(files.CpOutParams, files.CpResult),
  "vm.ports": m(RefParams, z.object({ ports: z.array(agent.ListeningPort) })),
  "vm.stats": m(agent.VmStatsParams, z.object({ stats: z.array(agent.VmStats) })),
  /** Streams change events until the caller disconnects. */
  "events.watch": m(NoParams, z.null()),
} as const;

export type MethodSchemas = typeof methodSchemas;
