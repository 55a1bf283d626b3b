/**
 * A small QMP (QEMU Machine Protocol) client over a Unix socket: reads the
 * greeting, negotiates capabilities, runs commands matched to replies by id,
 * and passes asynchronous events to listeners.
 */
import net from "node:net";
import { BangerError, ErrorCodes } from "../../errors/index.js";

export interface QmpGreeting {
  QMP: {
    version?: { qemu?: { major: number; minor: number; micro: number }; package?: string };
    capabilities?: string[];
  };
}

export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpConnectOptions {
  /** Deadline for connecting, the greeting and capabilities negotiation. Default 5000 ms. */
  timeoutMs?: number;
  /** Default deadline of each command. Default 10 000 ms. */
  commandTimeoutMs?: number;
  /** Keep trying while the socket is missing or refuses (QEMU still starting). Default true. */
  retry?: boolean;
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface QmpMessage {
  QMP?: unknown;
  event?: string;
  id?: unknown;
  return?: unknown;
  error?: { class?: string; desc?: string };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function connectOnce(socketPath: string, ms: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(
      () => {
        s.destroy();
        reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" }));
      },
      Math.max(1, ms),
    );
    s.once("error", onError);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeListener("error", onError);
      resolve(s);
    });
  });
}

/** Connect, retrying while the socket is missing or refuses, until the deadline. */
async function openSocket(socketPath: string, deadline: number, retryMissing: boolean): Promise<net.Socket> {
  for (;;) {
    try {
      return await connectOnce(socketPath, deadline - Date.now());
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const retry = retryMissing && (code === "ENOENT" || code === "ECONNREFUSED");
      if (retry && Date.now() + 50 < deadline) {
        await sleep(50);
        continue;
      }
      throw new BangerError(
        code === "ETIMEDOUT" ? ErrorCodes.TIMEOUT : ErrorCodes.VMM,
        `could not connect to the QMP socket ${socketPath}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new BangerError(ErrorCodes.TIMEOUT, `${what} timed out after ${ms} ms`)),
      Math.max(1, ms),
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export class QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(ev: QmpEvent) => void>();
  private buffer = "";
  private nextId = 1;
  private isClosed = false;
  private greetingValue: QmpGreeting | undefined;
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;
  private readonly greetingPromise: Promise<QmpGreeting>;

  private constructor(
    private readonly socket: net.Socket,
    readonly socketPath: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.greetingPromise = new Promise((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
    this.greetingPromise.catch(() => undefined);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (e) => this.shutdown(e.message));
    socket.on("close", () => this.shutdown("the connection closed"));
  }

  /** Connect to a QMP socket, read the greeting and leave capabilities negotiation mode. */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const socket = await openSocket(socketPath, deadline, opts.retry ?? true);
    const client = new QmpClient(socket, socketPath, opts.commandTimeoutMs ?? 10_000);
    try {
      await withTimeout(client.greetingPromise, deadline - Date.now(), `the QMP greeting on ${socketPath}`);
      await client.execute("qmp_capabilities", undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** The server's greeting (QEMU version and capabilities). */
  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new BangerError(ErrorCodes.INTERNAL, "QMP greeting not received");
    return this.greetingValue;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Run a QMP command; resolves with its `return` value, rejects with QMP's `desc` on an error reply. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    opts: { timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.isClosed) {
      return Promise.reject(
        new BangerError(ErrorCodes.VMM, `QMP ${command}: the connection to ${this.socketPath} is closed`),
      );
    }
    const id = `banger-${this.nextId++}`;
    const ms = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BangerError(ErrorCodes.TIMEOUT, `QMP ${command} got no reply within ${ms} ms`));
      }, ms);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Listen to asynchronous events; returns the function that stops listening. */
  onEvent(listener: (ev: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next event named `name`, or a TIMEOUT error. */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    let off: () => void = () => undefined;
    const p = new Promise<QmpEvent>((resolve) => {
      off = this.onEvent((ev) => {
        if (ev.event === name) resolve(ev);
      });
    });
    return withTimeout(p, timeoutMs, `waiting for QMP event ${name}`).finally(() => off());
  }

  close(): void {
    this.socket.destroy();
    this.shutdown("the client closed it");
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: QmpMessage;
      try {
        msg = JSON.parse(line) as QmpMessage;
      } catch {
        this.socket.destroy();
        this.shutdown(`it sent a line that is not JSON: ${line.slice(0, 120)}`);
        return;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: QmpMessage): void {
    if (msg.QMP !== undefined && !this.greetingValue) {
      this.greetingValue = msg as QmpGreeting;
      this.greetingWaiter?.resolve(this.greetingValue);
      return;
    }
    if (typeof msg.event === "string") {
      for (const l of [...this.listeners]) l(msg as QmpEvent);
      return;
    }
    const p = typeof msg.id === "string" ? this.pending.get(msg.id) : undefined;
    if (!p || typeof msg.id !== "string") return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) {
      const desc = msg.error.desc ?? "unknown error";
      p.reject(
        new BangerError(ErrorCodes.VMM, `QMP ${p.command} failed: ${desc}`, {
          details: { qmpClass: msg.error.class, desc },
        }),
      );
    } else {
      p.resolve(msg.return);
    }
  }

  private shutdown(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = (what: string) =>
      new BangerError(ErrorCodes.VMM, `${what}: QMP on ${this.socketPath}: ${reason}`);
    this.greetingWaiter?.reject(err("no QMP greeting"));
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err(`QMP ${p.command} got no reply`));
    }
    this.listeners.clear();
  }
}
