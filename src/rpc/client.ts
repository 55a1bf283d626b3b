import net from "node:net";
import type { Duplex } from "node:stream";
import type { MethodName, ParamsOf, ResultOf } from "../api/methods.js";
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type RpcEvent, type RpcResponse } from "../api/protocol.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { encode, LineDecoder } from "./framing.js";

export interface CallOptions {
  onEvent?: (e: RpcEvent) => void;
  /** Give up after this long (default: no limit; long operations stream events). */
  timeoutMs?: number;
  /** Told the request id before the request is sent (to address `call.input` to it). */
  onId?: (id: number) => void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onEvent: ((e: RpcEvent) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** A connection to the daemon. One client can carry many calls at once. */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | null = null;

  private constructor(private readonly sock: Duplex) {
    const decoder = new LineDecoder(MAX_MESSAGE_BYTES);
    sock.on("data", (chunk: Buffer) => {
      try {
        for (const m of decoder.push(chunk)) this.onMessage(m as RpcResponse);
      } catch (e) {
        this.failAll(e as Error);
        sock.destroy();
      }
    });
    sock.on("close", () =>
      this.failAll(
        new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "the daemon closed the connection", {
          hint: "see the daemon log (`banger daemon status` prints its path)",
        }),
      ),
    );
    sock.on("error", () => {
      /* reported through close */
    });
  }

  /** A client over any byte stream to a daemon (a Unix socket, or ssh's stdio to a remote one). */
  static fromStream(stream: Duplex): RpcClient {
    return new RpcClient(stream);
  }

  /** Connect to the daemon socket. Rejects with the errno code in `cause` when nothing listens. */
  static connect(socketPath: string, timeoutMs = 2000): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: socketPath });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, `timed out connecting to ${socketPath}`));
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(timer);
        resolve(new RpcClient(sock));
      });
      sock.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new BangerError(
            ErrorCodes.DAEMON_UNAVAILABLE,
            `cannot connect to the daemon at ${socketPath}: ${e.code ?? e.message}`,
            {
              cause: e,
            },
          ),
        );
      });
    });
  }

  call<M extends MethodName>(method: M, params: ParamsOf<M>, opts: CallOptions = {}): Promise<ResultOf<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(
                new BangerError(
                  ErrorCodes.TIMEOUT,
                  `the daemon did not answer "${method}" within ${opts.timeoutMs} ms`,
                ),
              );
            }, opts.timeoutMs);
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onEvent: opts.onEvent,
        timer,
      });
      opts.onId?.(id);
      this.sock.write(encode({ v: PROTOCOL_VERSION, id, method, params }));
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private onMessage(m: RpcResponse): void {
    const p = this.pending.get(m.id);
    if (!p) {
      if (m.id === 0 && m.type === "error") this.failAll(BangerError.fromPayload(m.error));
      return;
    }
    if (m.type === "event") {
      p.onEvent?.(m.event);
      return;
    }
    this.pending.delete(m.id);
    if (p.timer) clearTimeout(p.timer);
    if (m.type === "result") p.resolve(m.result);
    else p.reject(BangerError.fromPayload(m.error));
  }

  private failAll(e: Error): void {
    this.closedError ??= e;
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(e);
      this.pending.delete(id);
    }
  }
}
