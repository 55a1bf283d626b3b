/**
 * One connection to one VM's guest agent, multiplexing requests by id.
 *
 * QEMU's chardev socket serves ONE client at a time (a second client's
 * connect succeeds but is never served): keep one client per VM (AgentPool).
 */
import type net from "node:net";
import type { GuestHealth } from "../../api/agent.js";
import { BangerError, ErrorCodes, isBangerError, toBangerError } from "../../errors/index.js";
import {
  AGENT_UPGRADE_HINT,
  type AgentClientOptions,
  type AgentSession,
  agentRefusal,
  type ExecInput,
  type ExecOptions,
  type RequestOptions,
} from "./clientTypes.js";
import { type AgentHandle, openUnixSocket, seconds, vsockHandshake } from "./connect.js";
import { checkIdentity, encodeIdentity, type Identity } from "./identity.js";
import {
  AGENT_V3,
  type AgentPort,
  type AgentReply,
  encodeExec,
  encodeKill,
  encodeSimple,
  encodeStdin,
  encodeWinsize,
  LineSplitter,
  parseReply,
  type SimpleVerb,
} from "./protocol.js";

export type {
  AgentClientOptions,
  AgentSession,
  ExecControl,
  ExecInput,
  ExecOptions,
  RequestOptions,
} from "./clientTypes.js";
export type { IdentityNetwork } from "./identity.js";
export type { AgentHandle, Identity };
export { agentRefusal };

interface Pending {
  onReply(r: AgentReply): void;
  fail(e: BangerError): void;
}

export class AgentClient {
  private readonly pending = new Map<number, Pending>();
  private readonly splitter = new LineSplitter();
  private nextId = 1 + Math.floor(Math.random() * 1_000_000_000);
  private closedError: BangerError | null = null;
  private socketError: Error | null = null;
  private readonly requestTimeoutMs: number;

  private constructor(
    private readonly socket: net.Socket,
    readonly handle: AgentHandle,
    opts: AgentClientOptions,
    leftover: Buffer,
  ) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (e) => {
      this.socketError = e;
    });
    socket.on("close", () => this.shutdown(this.droppedError()));
    if (leftover.length > 0) this.onData(leftover);
    socket.resume();
  }

  /** Connect to the agent channel of a running VM (QEMU: plain connect; Firecracker: vsock CONNECT). */
  static async connect(handle: AgentHandle, opts: AgentClientOptions = {}): Promise<AgentClient> {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const socket = await openUnixSocket(handle.agentSocket, timeoutMs);
    const leftover =
      handle.driver === "firecracker" ? await vsockHandshake(socket, timeoutMs) : Buffer.alloc(0);
    return new AgentClient(
      socket,
      { driver: handle.driver, agentSocket: handle.agentSocket },
      opts,
      leftover,
    );
  }

  /** True once the connection is gone (closed by either side); a closed client stays closed. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /** The agent's protocol version. */
  ping(opts: RequestOptions = {}): Promise<string> {
    return this.request("ping", opts, (r) => (r.kind === "pong" ? r.version : undefined));
  }

  health(opts: RequestOptions = {}): Promise<GuestHealth> {
    return this.request("health", opts, (r) => (r.kind === "health" ? r.health : undefined));
  }

  /** TCP sockets listening in the guest. */
  ports(opts: RequestOptions = {}): Promise<AgentPort[]> {
    return this.request("ports", opts, (r) => (r.kind === "ports" ? r.ports : undefined));
  }

  /**
   * Flush the guest's filesystems (sync, then syncfs of / and /root) so its disks are
   * consistent on their own before its state is saved. Agent version 3; default timeout 60 s.
   */
  async sync(opts: RequestOptions = {}): Promise<void> {
    await this.requestOk("sync", (id) => encodeSimple(id, "sync"), { timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  /**
   * Give a forked VM its own identity (identity.ts): clock, entropy, hostname, machine id,
   * eth0 and the SSH host key. Resolves once every step worked in the guest; rejects with
   * the steps that failed. Agent version 3; default timeout 30 s (a restarted sshd is awaited).
   */
  async setIdentity(identity: Identity, opts: RequestOptions = {}): Promise<void> {
    checkIdentity(identity);
    await this.requestOk("identity", (id) => encodeIdentity(id, identity), {
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  /** Run argv in the guest, streaming its output; resolves with its exit code (128+N when killed by signal N). */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<number> {
    if (opts.signal?.aborted) {
      return Promise.reject(
        new BangerError(ErrorCodes.CANCELLED, "the command was cancelled before it started"),
      );
    }
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.newId();
    let line: string;
    try {
      line = encodeExec(id, {
        argv,
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.pty ? { pty: opts.pty } : {}),
      });
    } catch (e) {
      return Promise.reject(new BangerError(ErrorCodes.INVALID_ARGUMENT, (e as Error).message));
    }
    const done = new Promise<number>((resolve, reject) => this.trackExec(id, argv, opts, resolve, reject));
    this.write(line);
    opts.onStart?.({
      kill: (sig) => this.pending.has(id) && this.write(encodeKill(id, sig)),
      resize: (rows, cols) => this.pending.has(id) && this.write(encodeWinsize(id, "resize", rows, cols)),
    });
    void this.sendStdin(id, opts.stdin);
    return done;
  }

  /** Open a raw session: replies for its id go to `onReply`; a dropped connection to `fail`. */
  session(onReply: (r: AgentReply) => void, fail: (e: BangerError) => void): AgentSession {
    if (this.closedError) throw this.closedError;
    const id = this.newId();
    this.pending.set(id, { onReply, fail });
    return {
      id,
      write: (line) => this.write(line),
      writeAsync: (line) => this.writeAsync(line),
      end: () => this.pending.delete(id),
    };
  }

  /** Close the connection; requests in flight fail with CANCELLED. Idempotent. */
  close(): void {
    this.shutdown(new BangerError(ErrorCodes.CANCELLED, "the connection to the guest agent was closed"));
  }

  private trackExec(
    id: number,
    argv: readonly string[],
    opts: ExecOptions,
    resolve: (code: number) => void,
    reject: (e: BangerError) => void,
  ): void {
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener("abort", onAbort);
      this.pending.delete(id);
    };
    const fail = (e: BangerError) => {
      finish();
      reject(e);
    };
    const onAbort = () => {
      this.write(encodeKill(id, 15));
      const grace = opts.killGraceMs ?? 2_000;
      timers.push(
        setTimeout(() => {
          this.write(encodeKill(id, 9));
          const ms = this.requestTimeoutMs;
          const msg = `the command did not end within ${seconds(ms)} of SIGKILL: the guest agent did not answer`;
          timers.push(setTimeout(() => fail(new BangerError(ErrorCodes.TIMEOUT, msg)), ms));
        }, grace),
      );
    };
    const onReply = (r: AgentReply) => {
      if (r.kind === "out") opts.onStdout?.(r.data);
      else if (r.kind === "err") opts.onStderr?.(r.data);
      else if (r.kind === "exit") {
        finish();
        resolve(r.code);
      } else if (r.kind === "error") {
        fail(agentRefusal(r.message, `${argv[0]} in the guest`));
      }
    };
    this.pending.set(id, {
      onReply: (r) => {
        try {
          onReply(r);
        } catch (e) {
          this.write(encodeKill(id, 9)); // an output callback threw: stop the command
          fail(toBangerError(e));
        }
      },
      fail,
    });
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  }

  private async sendStdin(id: number, stdin: ExecInput | undefined): Promise<void> {
    try {
      if (typeof stdin === "string" || stdin instanceof Uint8Array) {
        for (const l of encodeStdin(id, stdin)) await this.writeAsync(l);
      } else if (stdin !== undefined) {
        for await (const chunk of stdin) {
          if (!this.pending.has(id)) return;
          for (const l of encodeStdin(id, chunk)) await this.writeAsync(l);
        }
      }
      if (this.pending.has(id)) this.write(encodeSimple(id, "stdin-eof"));
    } catch (e) {
      const p = this.pending.get(id);
      if (!p) return;
      this.write(encodeKill(id, 9));
      p.fail(toBangerError(e));
    }
  }

  /** A version 3 request answered `ID ok -`; an older agent's refusal says which version it is. */
  private async requestOk(verb: "sync" | "identity", line: (id: number) => string, opts: RequestOptions) {
    const refused = (message: string) =>
      new BangerError(ErrorCodes.COMMAND_FAILED, `${verb} in the guest failed: ${message}`, {
        details: { agentMessage: message },
      });
    try {
      await this.request(verb, opts, (r) => (r.kind === "ok" ? true : undefined), line, refused);
    } catch (e) {
      const message = (isBangerError(e) && (e.details as { agentMessage?: string })?.agentMessage) || "";
      if (!message.startsWith("unknown or malformed request")) throw e;
      const version = await this.ping().catch(() => "unknown");
      if (Number(version) >= AGENT_V3) throw e;
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `the guest agent (version ${version}) is too old for ${verb}; rebuild the image`,
        { hint: AGENT_UPGRADE_HINT(AGENT_V3) },
      );
    }
  }

  private request<T>(
    verb: "ping" | "health" | "ports" | "sync" | "identity",
    opts: RequestOptions,
    pick: (r: AgentReply) => T | undefined,
    line: (id: number) => string = (id) => encodeSimple(id, verb as SimpleVerb),
    refused: (message: string) => BangerError = (m) =>
      new BangerError(ErrorCodes.PROTOCOL, `the guest agent refused ${verb}: ${m}`),
  ): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const ms = opts.timeoutMs ?? this.requestTimeoutMs;
    const id = this.newId();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.notAnswering(verb, ms));
      }, ms);
      const fail = (e: BangerError) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(e);
      };
      this.pending.set(id, {
        onReply: (r) => {
          const v = pick(r);
          if (v !== undefined) {
            clearTimeout(timer);
            this.pending.delete(id);
            resolve(v);
          } else if (r.kind === "error") fail(refused(r.message));
          else
            fail(new BangerError(ErrorCodes.PROTOCOL, `the guest agent answered ${verb} with "${r.kind}"`));
        },
        fail: (e) => fail(e),
      });
      try {
        this.write(line(id));
      } catch (e) {
        fail(toBangerError(e, ErrorCodes.INVALID_ARGUMENT));
      }
    });
  }

  private notAnswering(verb: string, ms: number): BangerError {
    const hint =
      this.handle.driver === "qemu"
        ? "the guest may still be booting; QEMU serves one agent client at a time, so another client may hold the channel"
        : "the guest may still be booting, or it is overloaded";
    return new BangerError(
      ErrorCodes.TIMEOUT,
      `the guest agent did not answer within ${seconds(ms)} (${verb})`,
      {
        hint,
      },
    );
  }

  private droppedError(): BangerError {
    const why = this.socketError ? `: ${this.socketError.message}` : "";
    return new BangerError(ErrorCodes.VMM, `the connection to the guest agent closed${why}`, {
      hint: "the VM may have stopped; check it with `banger vm show NAME`",
      ...(this.socketError ? { cause: this.socketError } : {}),
    });
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (e) {
      this.shutdown(
        new BangerError(ErrorCodes.PROTOCOL, `the guest agent sent garbage: ${(e as Error).message}`),
      );
      return;
    }
    for (const line of lines) {
      const r = parseReply(line);
      const p = r.id === null ? undefined : this.pending.get(r.id);
      if (!p) continue; // stale (an earlier client's, or a request that timed out) or noise
      if (r.kind === "invalid")
        p.fail(new BangerError(ErrorCodes.PROTOCOL, `bad reply from the guest agent: ${r.reason}`));
      else p.onReply(r);
    }
  }

  private newId(): number {
    this.nextId = this.nextId >= 2 ** 31 ? 1 : this.nextId + 1;
    return this.nextId;
  }

  private write(line: string): void {
    if (!this.closedError) this.socket.write(line);
  }

  private async writeAsync(line: string): Promise<void> {
    if (this.closedError) throw this.closedError;
    if (this.socket.write(line)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off("drain", done).off("close", done);
        resolve();
      };
      this.socket.on("drain", done).on("close", done);
    });
  }

  private shutdown(err: BangerError): void {
    if (this.closedError) return;
    this.closedError = err;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.fail(err);
    this.socket.destroy();
  }
}
