/** The TUI's side of the RPC: the client it uses, its errors as the reducer shows them, and one-shot requests. */
import type { MethodName, ParamsOf, ResultOf } from "../api/methods.js";
import type { RpcEvent } from "../api/protocol.js";
import type { VmView } from "../api/vms.js";
import { toBangerError } from "../errors/index.js";
import type { ErrorInfo, Request } from "./types.js";

/** The part of RpcClient the TUI uses (a fake in tests). */
export interface RpcLike {
  call<M extends MethodName>(
    method: M,
    params: ParamsOf<M>,
    opts?: { onEvent?: (e: RpcEvent) => void; timeoutMs?: number },
  ): Promise<ResultOf<M>>;
  close(): void;
}

export function errorInfo(e: unknown): ErrorInfo {
  const b = toBangerError(e);
  return b.hint ? { code: b.code, message: b.message, hint: b.hint } : { code: b.code, message: b.message };
}

export const codeOf = (e: unknown) => toBangerError(e).code;

/** One request the reducer queued (a VM operation, create, pull, delete); the VM it leaves, if any. */
export async function callOp(
  c: RpcLike,
  req: Request,
  onEvent: (e: RpcEvent) => void,
): Promise<VmView | undefined> {
  switch (req.kind) {
    case "vm-op":
      if (req.op === "delete") {
        await c.call("vm.delete", { name: req.name, force: !!req.force });
        return undefined;
      }
      return c.call(`vm.${req.op}`, { name: req.name }, { onEvent });
    case "create":
      if (req.pull) await c.call("image.pull", { name: req.pull }, { onEvent });
      return c.call("vm.create", req.params, { onEvent });
    case "pull":
      await c.call(req.what === "image" ? "image.pull" : "kernel.pull", { name: req.name }, { onEvent });
      return undefined;
    case "artifact-delete":
      await c.call(req.what === "image" ? "image.delete" : "kernel.delete", { name: req.name });
      return undefined;
    default:
      return undefined;
  }
}

/** After a failed ssh, keep its message on screen until Enter (the TUI would cover it). */
export function pressEnter(message: string): Promise<void> {
  process.stdout.write(`\n${message}\n`);
  return new Promise((resolve) => {
    process.stdin.resume();
    process.stdin.once("data", () => {
      process.stdin.pause();
      resolve();
    });
  });
}
