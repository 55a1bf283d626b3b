/**
 * The streaming guest calls: vm.exec (live output; stdin, signals and pty
 * resizes through call.input) and vm.cpIn / vm.cpOut (file trees through the
 * guest agent, paced end to end so memory stays flat).
 */
import type { CallInput, CpResult, FileEntry } from "../api/files.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Handler, HandlerContext } from "../rpc/server.js";
import type { ExecControl } from "../services/agent/AgentClient.js";
import { getFiles, putFiles } from "../services/agent/transfers.js";
import { asObject, optInt, optString, reqString } from "../services/params.js";
import type { GuestService } from "../services/vms/GuestService.js";
import { InputQueue } from "./inputQueue.js";

/** timeout(1)'s exit code for a command it killed. */
export const TIMEOUT_EXIT_CODE = 124;

function stringArray(p: Record<string, unknown>, field: string): string[] {
  const v = p[field];
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be a non-empty array of strings`);
  }
  return v as string[];
}

function stringMap(p: Record<string, unknown>, field: string): Record<string, string> | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `${field} must be an object of strings`);
  }
  return v as Record<string, string>;
}

function ptySize(p: Record<string, unknown>): { rows: number; cols: number } | undefined {
  if (p.pty === undefined || p.pty === null) return undefined;
  const o = asObject(p.pty);
  return { rows: optInt(o, "rows", 1, 4096) ?? 24, cols: optInt(o, "cols", 1, 4096) ?? 80 };
}

/** Apply one exec input: signal, resize, stdin data, stdin end. */
async function execInput(
  i: CallInput,
  stdin: InputQueue | undefined,
  control: () => ExecControl | undefined,
) {
  if (i.signal !== undefined) {
    if (!Number.isInteger(i.signal) || i.signal < 1 || i.signal > 64)
      throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `signal must be 1..64, got ${i.signal}`);
    control()?.kill(i.signal);
  }
  if (i.resize) control()?.resize(i.resize.rows, i.resize.cols);
  if (typeof i.data === "string") await stdin?.push(Buffer.from(i.data, "base64"));
  if (i.eof) stdin?.end();
}

function execHandler(guest: GuestService): Handler {
  return async (raw, ctx) => {
    const p = asObject(raw);
    const timeoutMs = optInt(p, "timeoutMs", 1, 24 * 3_600_000);
    const timeout = timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined;
    const cwd = optString(p, "cwd");
    const env = stringMap(p, "env");
    const pty = ptySize(p);
    const stdin = p.stdin === true ? new InputQueue() : undefined;
    let control: ExecControl | undefined;
    ctx.onInput((i) => execInput(i, stdin, () => control));
    const out = (stream: "stdout" | "stderr") => (b: Buffer) =>
      ctx.emit({ kind: "exec-output", stream, data: b.toString("base64") });
    try {
      const exitCode = await guest.exec(reqString(p, "name"), stringArray(p, "argv"), {
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
      stdin?.close();
    }
  };
}

function entryOf(v: unknown): FileEntry {
  const o = asObject(v);
  const type = o.type;
  if (type !== "file" && type !== "dir" && type !== "symlink")
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `entry.type must be file, dir or symlink`);
  const path = typeof o.path === "string" ? o.path : "";
  const target = optString(o, "target");
  return {
    type,
    path,
    mode: optInt(o, "mode", 0, 0o7777) ?? 0o644,
    mtimeSec: optInt(o, "mtimeSec", -(2 ** 40), 2 ** 40) ?? 0,
    mtimeNsec: optInt(o, "mtimeNsec", 0, 999_999_999) ?? 0,
    size: optInt(o, "size", 0, Number.MAX_SAFE_INTEGER) ?? 0,
    ...(target ? { target } : {}),
  };
}

function cpInHandler(guest: GuestService): Handler {
  return async (raw, ctx: HandlerContext): Promise<CpResult> => {
    const p = asObject(raw);
    const name = reqString(p, "name");
    const dest = reqString(p, "dest");
    const baseName = reqString(p, "baseName");
    const r: CpResult = { entries: 0, bytes: 0, warnings: 0 };
    let ended!: (e?: Error) => void;
    const inputsDone = new Promise<void>((resolve, reject) => {
      ended = (e) => (e ? reject(e) : resolve());
    });
    const started = guest.agentFor(name).then((a) => putFiles(a, dest, baseName));
    ctx.onInput(async (i) => {
      const put = await started;
      if (i.entry) {
        r.entries++;
        await put.entry(entryOf(i.entry));
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

function cpOutHandler(guest: GuestService): Handler {
  return async (raw, ctx: HandlerContext): Promise<CpResult> => {
    const p = asObject(raw);
    const name = reqString(p, "name");
    const src = reqString(p, "src");
    const r: CpResult = { entries: 0, bytes: 0, warnings: 0 };
    let credit: (n: number) => void = () => {};
    ctx.onInput((i) => {
      if (typeof i.credit === "number" && Number.isInteger(i.credit) && i.credit > 0) credit(i.credit);
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
  return new Map<string, Handler>([
    ["vm.exec", execHandler(guest)],
    ["vm.cpIn", cpInHandler(guest)],
    ["vm.cpOut", cpOutHandler(guest)],
  ]);
}
