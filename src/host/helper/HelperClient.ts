/**
 * The daemon's side of the privileged helper: one long-lived helper process,
 * started on first use (through `sudo -n` for a normal user, directly for
 * root), spoken to over its stdin/stdout. A helper that dies is restarted on
 * the next call; calls in flight fail with its last stderr lines.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { HelperResponse, HelperVerb, HelperVerbs, PrivilegedHelper } from "../../helper/protocol.js";

export interface HelperClientOptions {
  /** The helper's argv, e.g. ["sudo", "-n", "/usr/local/libexec/banger/banger-helper"]. */
  command: readonly string[];
  /** Per-call deadline. Default 30 000 ms. */
  timeoutMs?: number;
  /** Hint for a helper that cannot start (sudo refused, not installed). */
  startHint?: string;
  /** The helper's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

interface Pending {
  verb: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const CODE_MAP: Record<string, string> = {
  INVALID_ARGUMENT: ErrorCodes.INVALID_ARGUMENT,
  PERMISSION: ErrorCodes.PREFLIGHT_FAILED,
  NOT_FOUND: ErrorCodes.NOT_FOUND,
  CONFLICT: ErrorCodes.CONFLICT,
  UNKNOWN_VERB: ErrorCodes.INTERNAL,
};

/** A helper's error answer as a BangerError naming the verb. */
export function helperRefusal(verb: string, error: { code: string; message: string }): BangerError {
  const code = CODE_MAP[error.code] ?? ErrorCodes.COMMAND_FAILED;
  return new BangerError(code, `privileged helper, ${verb}: ${error.message}`, {
    details: { helperCode: error.code },
  });
}

export class HelperClient implements PrivilegedHelper {
  private child: ChildProcessWithoutNullStreams | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail: string[] = [];
  private closed = false;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HelperClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  call<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"]): Promise<HelperVerbs[V]["result"]> {
    if (this.closed)
      return Promise.reject(new BangerError(ErrorCodes.INTERNAL, "the privileged helper is closed"));
    const child = this.ensureStarted();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new BangerError(
            ErrorCodes.TIMEOUT,
            `the privileged helper did not answer "${verb}" in ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(id, { verb, resolve: resolve as (v: unknown) => void, reject, timer });
      child.stdin.write(`${JSON.stringify({ id, verb, args })}\n`);
    });
  }

  /** End the helper (it exits when its stdin closes). */
  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child = null;
  }

  private ensureStarted(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const [cmd, ...args] = this.opts.command;
    if (cmd === undefined) throw new BangerError(ErrorCodes.INTERNAL, "no helper command");
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: this.opts.env ?? process.env });
    this.child = child;
    this.stderrTail = [];
    child.stdin.on("error", () => undefined);
    createInterface({ input: child.stdout }).on("line", (l) => this.onLine(l));
    createInterface({ input: child.stderr }).on("line", (l) => {
      this.stderrTail.push(l);
      if (this.stderrTail.length > 5) this.stderrTail.shift();
    });
    const gone = (why: string) => {
      if (this.child === child) this.child = null;
      this.failAll(why);
    };
    child.on("error", (e) => gone(`could not start \`${this.opts.command.join(" ")}\`: ${e.message}`));
    child.on("exit", (code, signal) => gone(`the privileged helper exited (${signal ?? `code ${code}`})`));
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  private onLine(line: string): void {
    let res: HelperResponse;
    try {
      res = JSON.parse(line) as HelperResponse;
    } catch {
      return;
    }
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    clearTimeout(p.timer);
    if (res.ok) p.resolve(res.result);
    else p.reject(helperRefusal(p.verb, res.error));
  }

  private failAll(why: string): void {
    const tail = this.stderrTail.join("\n").trim();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(
        new BangerError(ErrorCodes.PREFLIGHT_FAILED, `${p.verb}: ${why}${tail ? `: ${tail}` : ""}`, {
          ...(this.opts.startHint ? { hint: this.opts.startHint } : {}),
        }),
      );
    }
  }
}
