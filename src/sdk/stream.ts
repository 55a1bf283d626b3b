/** Calls that stream or can be cancelled: each runs on a connection of its own. */
import type { MethodName, ParamsOf, ResultOf } from "../api/methods.js";
import type { RpcEvent } from "../api/protocol.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Transport } from "./transport.js";

export function cancelled(what: string, signal: AbortSignal): BangerError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "");
  return new BangerError(ErrorCodes.CANCELLED, `${what} was cancelled${reason ? `: ${reason}` : ""}`);
}

/**
 * Run one call on its own connection; aborting `signal` closes that
 * connection, which makes the daemon abort the handler (and, for exec, kill
 * the guest command).
 */
export async function ownCall<M extends MethodName>(
  transport: Transport,
  method: M,
  params: ParamsOf<M>,
  opts: { signal?: AbortSignal; onEvent?: (e: RpcEvent) => void } = {},
): Promise<ResultOf<M>> {
  const { signal } = opts;
  if (signal?.aborted) throw cancelled(method, signal);
  const client = await transport.open();
  const onAbort = () => client.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await client.call(method, params, opts.onEvent ? { onEvent: opts.onEvent } : {});
  } catch (e) {
    if (signal?.aborted) throw cancelled(method, signal);
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    client.close();
  }
}

/** A push-to-pull queue: producers push items, one consumer iterates them as they come. */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiter: ((e: unknown) => void) | null = null;
  private done = false;
  private error: unknown = null;

  constructor(private readonly onReturn: () => void = () => undefined) {}

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  end(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error ?? null;
    if (this.waiter && this.items.length === 0) {
      const [w, f] = [this.waiter, this.failWaiter];
      this.waiter = null;
      this.failWaiter = null;
      if (error) f?.(error);
      else w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.done) {
      if (this.error) {
        const e = this.error;
        this.error = null;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
