/**
 * The RPC contract: every method with its params and result types, derived
 * from the schema table (src/api/schema/methods.ts). Type-only imports: a
 * client that needs the types never loads zod.
 */
import type { z } from "zod";
import type { VmExecParams as VmExecParamsSchema } from "./schema/agent.js";
import type {
  DaemonPaths as DaemonPathsSchema,
  PingResult as PingSchema,
  ShutdownParams as ShutdownParamsSchema,
  ShutdownResult as ShutdownResultSchema,
} from "./schema/daemon.js";
import type { MethodSchemas } from "./schema/methods.js";
import type { ImageBuildParams as ImageBuildParamsSchema } from "./schema/vms.js";

export type DaemonPaths = z.infer<typeof DaemonPathsSchema>;
export type PingResult = z.infer<typeof PingSchema>;
export type ShutdownParams = z.input<typeof ShutdownParamsSchema>;
export type ShutdownResult = z.infer<typeof ShutdownResultSchema>;
export type ImageBuildParams = z.input<typeof ImageBuildParamsSchema>;
export type VmExecParams = z.input<typeof VmExecParamsSchema>;

export type Methods = {
  [M in keyof MethodSchemas]: {
    /** What a client sends. */
    params: z.input<MethodSchemas[M]["params"]>;
    /** What the handler gets after validation (defaults applied). */
    parsed: z.output<MethodSchemas[M]["params"]>;
    result: z.output<MethodSchemas[M]["result"]>;
  };
};

export type MethodName = keyof Methods;
export type ParamsOf<M extends MethodName> = Methods[M]["params"];
export type ParsedParamsOf<M extends MethodName> = Methods[M]["parsed"];
export type ResultOf<M extends MethodName> = Methods[M]["result"];
