/** One VM as the SDK sees it: exec, files, readiness, lifecycle. */
import type { HealthReport } from "../api/agent.js";
import type { VmView } from "../api/vms.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { RpcClient } from "../rpc/client.js";
import { Channel, ownCall } from "./stream.js";
import type { Transport } from "./transport.js";

export interface ExecOptions {
  /** Bytes (or text) for the command's stdin; stdin is closed after them. */
  stdin?: string | Uint8Array;
  /** Added to the guest's default environment. */
  env?: Record<string, string>;
  /** Working directory in the guest (default /root). */
  cwd?: string;
  /** Kill the command after this long; it then ends with CANCELLED/TIMEOUT. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** What execStream yields, in the order it happens; `exitCode` comes last. */
export type ExecEvent = { stdout: Buffer } | { stderr: Buffer } | { exitCode: number };

export interface Deps {
  transport: Transport;
  client: RpcClient;
}

/** A command as argv; a string runs through `sh -c`. */
function argvOf(cmd: string | readonly string[]): string[] {
  return typeof cmd === "string" ? ["sh", "-c", cmd] : [...cmd];
}

export class Vm {
  constructor(
    private readonly deps: Deps,
    /** The VM as last fetched (refresh() fetches it again). */
    public info: VmView,
  ) {}

  get name(): string {
    return this.info.name;
  }

  async refresh(): Promise<VmView> {
    this.info = await this.deps.client.call("vm.show", { name: this.name });
    return this.info;
  }

  /** Resolves once the guest agent answers; rejects (TIMEOUT, CONFLICT) when it will not. */
  async ready(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<HealthReport> {
    const params = { name: this.name, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) };
    const h = await ownCall(this.deps.transport, "vm.waitReady", params, opts);
    if (h.status !== "healthy") {
      throw new BangerError(ErrorCodes.CONFLICT, `VM "${this.name}" is not running: ${h.reason}`, {
        hint: "start it with vm.start()",
      });
    }
    return h;
  }

  /** Run a command to its end and collect its output (UTF-8). */
  async exec(cmd: string | readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exitCode = await this.run(cmd, opts, (stream, data) =>
      (stream === "stdout" ? out : err).push(data),
    );
    return {
      exitCode,
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8"),
    };
  }

  /** Run a command and yield its output as it happens, then its exit code. Breaking out of the loop kills it. */
  execStream(cmd: string | readonly string[], opts: ExecOptions = {}): AsyncIterableIterator<ExecEvent> {
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const ch = new Channel<ExecEvent>(() => stop.abort(new Error("the stream was closed")));
    this.run(cmd, { ...opts, signal }, (stream, data) =>
      ch.push(stream === "stdout" ? { stdout: data } : { stderr: data }),
    ).then(
      (exitCode) => {
        ch.push({ exitCode });
        ch.end();
      },
      (e) => ch.end(e),
    );
    return ch;
  }

  private run(
    cmd: string | readonly string[],
    opts: ExecOptions,
    onData: (stream: "stdout" | "stderr", data: Buffer) => void,
  ): Promise<number> {
    const stdin = opts.stdin === undefined ? undefined : Buffer.from(opts.stdin).toString("base64");
    const params = {
      name: this.name,
      argv: argvOf(cmd),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      ...(stdin ? { stdin } : {}),
    };
    return ownCall(this.deps.transport, "vm.exec", params, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      onEvent: (e) => {
        if (e.kind === "exec-output") onData(e.stream, Buffer.from(e.data, "base64"));
      },
    }).then((r) => {
      if (r.timedOut) {
        throw new BangerError(
          ErrorCodes.TIMEOUT,
          `the command did not end within ${opts.timeoutMs} ms and was killed (exit code ${r.exitCode})`,
        );
      }
      return r.exitCode;
    });
  }

  /** Files in the guest (through the agent; no SSH). */
  readonly files = {
    write: async (path: string, data: string | Uint8Array, opts: { signal?: AbortSignal } = {}) => {
      const r = await this.exec(["sh", "-c", 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', "sh", path], {
        stdin: data,
        ...opts,
      });
      if (r.exitCode !== 0) throw fileError("write", path, r);
    },
    read: (async (path: string, opts: { encoding?: "utf8" | "buffer"; signal?: AbortSignal } = {}) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const exitCode = await this.run(["cat", "--", path], opts, (s, d) =>
        (s === "stdout" ? out : err).push(d),
      );
      if (exitCode !== 0) {
        throw fileError("read", path, { exitCode, stdout: "", stderr: Buffer.concat(err).toString("utf8") });
      }
      const buf = Buffer.concat(out);
      return opts.encoding === "buffer" ? buf : buf.toString("utf8");
    }) as {
      (path: string, opts?: { encoding?: "utf8"; signal?: AbortSignal }): Promise<string>;
      (path: string, opts: { encoding: "buffer"; signal?: AbortSignal }): Promise<Buffer>;
    },
  };

  /** Start a stopped VM, or restore a suspended one (`discardState`: boot it afresh instead). */
  async start(opts: { discardState?: boolean } = {}): Promise<VmView> {
    const p = { name: this.name, ...(opts.discardState ? { discardState: true } : {}) };
    this.info = await this.deps.client.call("vm.start", p);
    return this.info;
  }

  /** Freeze the vCPUs; the VM keeps its memory, address and TAP. */
  async pause(): Promise<VmView> {
    this.info = await this.deps.client.call("vm.pause", { name: this.name });
    return this.info;
  }

  /** A paused VM runs on; a suspended one is restored from its saved state. */
  async resume(): Promise<VmView> {
    this.info = await this.deps.client.call("vm.resume", { name: this.name });
    return this.info;
  }

  /** Save the whole VM (memory, processes, open files) to disk and end its VMM: it costs disk, not RAM. */
  async suspend(): Promise<VmView> {
    this.info = await this.deps.client.call("vm.suspend", { name: this.name });
    return this.info;
  }

  /** Clones with this VM's memory and disks, each with its own name, address, MAC, machine-id and host key. */
  async fork(opts: { name?: string; count?: number } = {}): Promise<Vm[]> {
    const p = { source: this.name, ...(opts.name ? { name: opts.name } : {}), count: opts.count ?? 1 };
    const r = await this.deps.client.call("vm.fork", p);
    return r.vms.map((v) => new Vm(this.deps, v));
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<VmView> {
    const p = { name: this.name, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) };
    this.info = await this.deps.client.call("vm.stop", p);
    return this.info;
  }

  /** Delete the VM; `force` stops a running one first. */
  async delete(opts: { force?: boolean } = {}): Promise<void> {
    await this.deps.client.call("vm.delete", { name: this.name, force: opts.force ?? false });
  }
}

function fileError(op: string, path: string, r: ExecResult): BangerError {
  const why = r.stderr.trim() || `exit code ${r.exitCode}`;
  const code = /No such file|not found/i.test(why) ? ErrorCodes.NOT_FOUND : ErrorCodes.COMMAND_FAILED;
  return new BangerError(code, `cannot ${op} ${path} in the guest: ${why}`);
}
