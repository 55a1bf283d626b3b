/**
 * The banger SDK: `import { Banger } from "banger"`. See docs/sdk.md.
 * Types come from the API schema (src/api/schema), type-only: importing the
 * SDK loads neither zod nor the MCP SDK.
 */
export type { GuestHealth, HealthReport, ListeningPort, VmStats } from "../api/agent.js";
export type { MethodName, Methods, ParamsOf, PingResult, ResultOf } from "../api/methods.js";
export type { ImageView, VmCreateParams, VmView } from "../api/vms.js";
export { BangerError, ErrorCodes, isBangerError } from "../errors/index.js";
export type { VmState } from "../model/vm.js";
export { RpcClient } from "../rpc/client.js";
export { API_VERSION } from "./apiVersion.js";
export { Banger, type ConnectOptions, type CreateOptions, type VmEvent } from "./Banger.js";
export { defaultTransport, sshHost, type Transport, type TransportOptions, unixSocket } from "./transport.js";
export { type ExecEvent, type ExecOptions, type ExecResult, Vm } from "./Vm.js";
