import { chmodSync } from "node:fs";
import net from "node:net";
import type { CallInput } from "../api/files.js";
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type RpcEvent,
  type RpcRequest,
  type RpcResponse,
} from "../api/protocol.js";
import { BangerError, ErrorCodes, toBangerError } from "../errors/index.js";
import { poll } from "../util/poll.js";
import { encode, LineDecoder } from "./framing.js";

export interface HandlerContext {
  /** Send a progress event to the caller. */
  emit(event: RpcEvent): void;
  /** Aborted when the caller disconnects. */
  signal: AbortSignal;
  /**
   * Receive the caller's `call.input` requests for this call, one at a time
   * in the order sent; each is answered when the listener's promise settles.
   */
  onInput(listener: InputListener): void;
}

export type InputListener = (input: CallInput) => Promise<void> | void;

/** A connection's calls that take input, by request id, each with the tail of its input chain. */
type InputTable = Map<number, { listener: InputListener; tail: Promise<unknown> }>;

export type Handler = (params: unknown, ctx: HandlerContext) => Promise<unknown> | unknown;

export interface RpcServerLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface InFlight {
  method: string;
  params: unknown;
  done: Promise<void>;
}

/** Decides which requests never end on their own (events.watch, logs -f): drain cuts them last. */
export type EndlessCheck = (method: string, params: unknown) => boolean;

/** A request/response server over a Unix socket (see api/protocol.ts). */
export class RpcServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly aborters = new Set<AbortController>();
  private readonly inFlight = new Set<InFlight>();
  private draining = false;

  constructor(
    private readonly handlers: ReadonlyMap<string, Handler>,
    private readonly log: RpcServerLog,
  ) {
    this.server = net.createServer((s) => this.onConnection(s));
  }

  /** Listen on `path` and make it readable and writable by the owner only. */
  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once("error", onError);
      // umask-independent: restrict right after bind, before anyone can connect meaningfully
      this.server.listen(path, () => {
        this.server.off("error", onError);
        chmodSync(path, 0o600);
        resolve();
      });
    });
  }

  /** Requests being handled now (for status and tests). */
  inFlightMethods(): string[] {
    return [...this.inFlight].map((r) => r.method);
  }

  /**
   * Stop taking requests (new ones get DAEMON_UNAVAILABLE), then wait up to
   * `boundMs` for the ones in flight. Endless streams are cut (their signal
   * aborted, so they end with a result) as soon as nothing else is in flight,
   * or at the bound; whatever still runs then is reported and abandoned.
   */
  async drain(boundMs: number, isEndless: EndlessCheck): Promise<{ drained: number; abandoned: string[] }> {
    this.draining = true;
    this.server.close();
    const deadline = Date.now() + boundMs;
    const finite = () => [...this.inFlight].filter((r) => !isEndless(r.method, r.params));
    const drained = this.inFlight.size;
    while (finite().length > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.all(finite().map((r) => r.done)),
        new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()))),
      ]);
    }
    for (const a of this.aborters) a.abort();
    await poll(() => this.inFlight.size === 0, { timeoutMs: 2000, intervalMs: 20 });
    return { drained: drained - this.inFlight.size, abandoned: this.inFlightMethods() };
  }

  /** Stop accepting, end open connections, resolve when closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.end();
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 1000).unref();
    });
  }

  private onConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    const aborter = new AbortController();
    this.aborters.add(aborter);
    const decoder = new LineDecoder(MAX_MESSAGE_BYTES);
    const inputs: InputTable = new Map();
    sock.on("close", () => {
      this.sockets.delete(sock);
      this.aborters.delete(aborter);
      aborter.abort();
    });
    sock.on("error", (e) => this.log.debug({ err: e.message }, "rpc connection error"));
    sock.on("data", (chunk: Buffer) => {
      let msgs: unknown[];
      try {
        msgs = decoder.push(chunk);
      } catch (e) {
        send(sock, { id: 0, type: "error", error: toBangerError(e, ErrorCodes.PROTOCOL).toPayload() });
        sock.end();
        return;
      }
      for (const m of msgs) this.track(m, this.dispatch(sock, m, aborter.signal, inputs));
    });
  }

  private track(raw: unknown, done: Promise<void>): void {
    const req = raw as Partial<RpcRequest>;
    const r: InFlight = { method: String(req?.method), params: req?.params, done };
    this.inFlight.add(r);
    void done.finally(() => this.inFlight.delete(r));
  }

  private async dispatch(
    sock: net.Socket,
    raw: unknown,
    signal: AbortSignal,
    inputs: InputTable,
  ): Promise<void> {
    const req = raw as Partial<RpcRequest>;
    const id = typeof req?.id === "number" ? req.id : 0;
    try {
      const handler = req?.method === "call.input" ? inputHandler(inputs) : this.validate(req);
      const t0 = performance.now();
      const ctx: HandlerContext = {
        emit: (event) => send(sock, { id, type: "event", event }),
        signal,
        onInput: (listener) => inputs.set(id, { listener, tail: Promise.resolve() }),
      };
      const result = await Promise.resolve()
        .then(() => handler(req.params ?? {}, ctx))
        .finally(() => inputs.delete(id));
      this.log.debug({ method: req.method, ms: Math.round(performance.now() - t0) }, "rpc call");
      send(sock, { id, type: "result", result: result ?? null });
    } catch (e) {
      const err = toBangerError(e);
      if (err.code === ErrorCodes.INTERNAL)
        this.log.error({ method: req?.method, err: err.stack }, "rpc handler failed");
      send(sock, { id, type: "error", error: err.toPayload() });
    }
  }

  private validate(req: Partial<RpcRequest>): Handler {
    if (
      typeof req !== "object" ||
      req === null ||
      typeof req.id !== "number" ||
      typeof req.method !== "string"
    ) {
      throw new BangerError(ErrorCodes.PROTOCOL, "malformed request: expected {v, id, method, params}");
    }
    // ping is the handshake: answered in any protocol version, so a client can learn the daemon's.
    if (req.v !== PROTOCOL_VERSION && req.method !== "ping") {
      throw new BangerError(
        ErrorCodes.PROTOCOL,
        `protocol version ${String(req.v)} is not supported by this daemon (it speaks ${PROTOCOL_VERSION})`,
        { hint: "restart the daemon with `banger daemon restart` so CLI and daemon are the same build" },
      );
    }
    if (this.draining && req.method !== "ping") {
      throw new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "bangerd is shutting down", {
        hint: "run the command again in a moment; a new daemon starts on demand",
      });
    }
    const h = this.handlers.get(req.method);
    if (!h) {
      throw new BangerError(ErrorCodes.UNKNOWN_METHOD, `unknown method "${req.method}"`, {
        hint: "the CLI and daemon differ; run `banger daemon restart`",
      });
    }
    return h;
  }
}

/** `call.input`: route the input to the call it names, after that call's earlier inputs. */
function inputHandler(inputs: InputTable): Handler {
  return (raw) => {
    const p = raw as Partial<CallInput> | null;
    if (typeof p !== "object" || p === null || typeof p.call !== "number") {
      throw new BangerError(
        ErrorCodes.INVALID_ARGUMENT,
        "call.input: call must be the id of a call in flight",
      );
    }
    const entry = inputs.get(p.call);
    if (!entry) {
      throw new BangerError(
        ErrorCodes.NOT_FOUND,
        `call.input: no call ${p.call} that takes input is in flight on this connection`,
      );
    }
    const run = entry.tail.then(() => entry.listener(p as CallInput));
    entry.tail = run.catch(() => undefined);
    return run.then(() => null);
  };
}

function send(sock: net.Socket, msg: RpcResponse): void {
  if (!sock.destroyed && sock.writable) sock.write(encode(msg));
}
