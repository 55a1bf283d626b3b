/**
 * The streaming guest calls: vm.exec (live output; stdin, signals and pty
 * resizes through call.input) and vm.cpIn / vm.cpOut (file trees through the
 * guest agent, paced end to end so memory stays flat).
 */
import type { CallInput, CpResult } from "../api/files.js";
import type { ParsedParamsOf } from "../api/methods.js";
import { on, parseParams } from "../api/schema/validate.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import type { ExecControl } from "../services/agent/AgentClient.js";
import { getFiles, putFiles } from "../services/agent/transfers.js";
import type { GuestService } from "../services/vms/GuestService.js";
import { InputQueue } from "./inputQueue.js";

/** timeout(1)'s exit code for a command it killed. */
export const TIMEOUT_EXIT_CODE = 124;

/** Apply one exec input: signal, resize, stdin data, stdin end. */
async function execInput(
  i: CallInput,
  stdin: InputQueue | undefined,
  control: () => ExecControl | undefined,
) {
  if (i.signal !== undefined) control()?.kill(i.signal);
  if (i.resize) control()?.resize(i.resize.rows, i.resize.cols);
  if (typeof i.data === "string") await stdin?.push(Buffer.from(i.data, "base64"));
  if (i.eof) stdin?.end();
}

/** Inputs of this call, each checked against the call.input schema first. */
function onInputs(ctx: HandlerContext, listener: (i: CallInput) => void | Promise<void>): void {
  ctx.onInput((raw) => listener(parseParams("call.input", raw)));
}

async function exec(guest: GuestService, p: ParsedParamsOf<"vm.exec">, ctx: HandlerContext) {
  const { timeoutMs, cwd, env, pty } = p;
  const timeout = timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined;
  const stdin =
    p.stdin === true ? new InputQueue() : p.stdin !== undefined ? Buffer.from(p.stdin, "base64") : undefined;
  let control: ExecControl | undefined;
  onInputs(ctx, (i) => execInput(i, stdin instanceof InputQueue ? stdin : undefined, () => control));
  const out = (stream: "stdout" | "stderr") => (b: Buffer) =>
    ctx.emit({ kind: "exec-output", stream, data: b.toString("base64") });
  try {
    const exitCode = await guest.exec(p.name, p.argv, {
      ...(cwd ? { cwd } : {}),
      ...(env ? { env } : {}),
      ...(stdin ? { stdin } : {}),
      ...(pty ? { pty } : {}),
      signal: timeout ? AbortSignal.any([ctx.signal, timeout]) : ctx.signal,
      onStart: (c) => {
        control = c;
      },
      onStdout: out("stdout"),
      onStderr: out("stderr"),
    });
    return timeout?.aborted ? { exitCode: TIMEOUT_EXIT_CODE, timedOut: true } : { exitCode };
  } finally {
    if (stdin instanceof InputQueue) stdin.close();
  }
}

function cpInHandler(guest: GuestService) {
  return async (p: ParsedParamsOf<"vm.cpIn">, ctx: HandlerContext): Promise<CpResult> => {
    const { name, dest, baseName } = p;
    const r: CpResult = { entries: 0, bytes: 0, warnings: 0 };
    let ended!: (e?: Error) => void;
    const inputsDone = new Promise<void>((resolve, reject) => {
      ended = (e) => (e ? reject(e) : resolve());
    });
    const started = guest.agentFor(name).then((a) => putFiles(a, dest, baseName));
    onInputs(ctx, async (i) => {
      const put = await started;
      if (i.entry) {
        r.entries++;
        await put.entry(i.entry);
      }
      if (typeof i.data === "string") {
        const b = Buffer.from(i.data, "base64");
        r.bytes += b.length;
        await put.data(b);
      }
      if (i.eof) ended();
    });
    const put = await started;
    const onAbort = () => ended(new BangerError(ErrorCodes.CANCELLED, "the client went away"));
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await inputsDone;
      await put.end();
      return r;
    } catch (e) {
      put.abort();
      throw e;
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
  };
}

function cpOutHandler(guest: GuestService) {
  return async (p: ParsedParamsOf<"vm.cpOut">, ctx: HandlerContext): Promise<CpResult> => {
    const { name, src } = p;
    const r: CpResult = { entries: 0, bytes: 0, warnings: 0 };
    let credit: (n: number) => void = () => {};
    onInputs(ctx, (i) => {
      if (i.credit !== undefined && i.credit > 0) credit(i.credit);
    });
    const get = getFiles(await guest.agentFor(name), src, {
      signal: ctx.signal,
      onEntry: (entry) => {
        r.entries++;
        ctx.emit({ kind: "file-entry", entry });
      },
      onData: (b) => {
        r.bytes += b.length;
        ctx.emit({ kind: "file-data", data: b.toString("base64") });
      },
      onWarning: (message) => {
        r.warnings++;
        ctx.emit({ kind: "file-warning", message });
      },
    });
    credit = get.credit;
    await get.result;
    return r;
  };
}

export function streamHandlers(guest: GuestService): Map<string, Handler> {
  const h = new Map<string, Handler>();
  on(h, "vm.exec", (p, ctx) => exec(guest, p, ctx));
  on(h, "vm.cpIn", cpInHandler(guest));
  on(h, "vm.cpOut", cpOutHandler(guest));
  return h;
}
