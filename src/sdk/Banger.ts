/** The SDK's entry point: a connection to a banger daemon. */
import type { PingResult } from "../api/methods.js";
import type { VmCreateParams } from "../api/vms.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { VmState } from "../model/vm.js";
import type { RpcClient } from "../rpc/client.js";
import { API_VERSION } from "./apiVersion.js";
import { Channel, ownCall } from "./stream.js";
import { defaultTransport, type Transport, type TransportOptions } from "./transport.js";
import { Vm } from "./Vm.js";

export interface ConnectOptions extends TransportOptions {
  /** Reach the daemon some other way (tests, remote hosts). Overrides socket/host. */
  transport?: Transport;
}

export interface CreateOptions extends VmCreateParams {
  /** Follow the daemon's progress events (boot stages). */
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

/** A VM state change; `state` is "deleted" when the VM is gone. */
export interface VmEvent {
  name: string;
  state: VmState | "deleted";
  /** The state before, when this stream knew it. */
  previous: VmState | null;
  at: string;
}

export class Banger {
  private constructor(
    private readonly transport: Transport,
    private readonly client: RpcClient,
    /** The daemon's handshake answer (version, apiVersion, methods). */
    readonly daemon: PingResult,
  ) {}

  /** Connect to the user's daemon (started if needed), or to the one `opts` names. */
  static async connect(opts: ConnectOptions = {}): Promise<Banger> {
    const transport = opts.transport ?? defaultTransport(opts);
    await transport.prepare?.();
    const client = await transport.open();
    try {
      const ping = await client.call("ping", {}, { timeoutMs: 10_000 });
      if (ping.apiVersion !== API_VERSION) {
        throw new BangerError(
          ErrorCodes.PROTOCOL,
          `the daemon at ${transport.target} speaks API version ${String(ping.apiVersion)}, this SDK ${API_VERSION}`,
          { hint: "use the SDK of the banger version the daemon runs (`banger version`)" },
        );
      }
      return new Banger(transport, client, ping);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  readonly vms = {
    create: async (o: CreateOptions = {}): Promise<Vm> => {
      const { onProgress, signal, ...params } = o;
      const view = await ownCall(this.transport, "vm.create", params, {
        ...(signal ? { signal } : {}),
        onEvent: (e) => {
          if (e.kind === "progress") onProgress?.(e.message);
        },
      });
      return new Vm(this.deps(), view);
    },
    list: async (): Promise<Vm[]> => {
      const r = await this.client.call("vm.list", {});
      return r.vms.map((v) => new Vm(this.deps(), v));
    },
    get: async (name: string): Promise<Vm> =>
      new Vm(this.deps(), await this.client.call("vm.show", { name })),
  };

  /**
   * VM state changes as they happen (creations, boots, stops, crashes,
   * deletions), until the loop ends or `signal` aborts.
   */
  events(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<VmEvent> {
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const ch = new Channel<VmEvent>(() => stop.abort(new Error("the stream was closed")));
    const last = new Map<string, VmState>();
    const seed = this.client.call("vm.list", {}).then(
      (r) => {
        for (const v of r.vms) if (!last.has(v.name)) last.set(v.name, v.state);
      },
      () => undefined,
    );
    ownCall(
      this.transport,
      "events.watch",
      {},
      {
        signal,
        onEvent: (e) => {
          if (e.kind !== "change") return;
          void seed.then(() => {
            const previous = last.get(e.name) ?? null;
            const at = new Date().toISOString();
            if (e.topic === "vm-deleted") {
              last.delete(e.name);
              ch.push({ name: e.name, state: "deleted", previous, at });
            } else if (e.topic === "vm" && e.state && e.state !== previous) {
              last.set(e.name, e.state);
              ch.push({ name: e.name, state: e.state, previous, at });
            }
          });
        },
      },
    ).then(
      () => ch.end(),
      (e) => ch.end(signal.aborted && stop.signal.aborted ? undefined : e),
    );
    return ch;
  }

  close(): void {
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private deps() {
    return { transport: this.transport, client: this.client };
  }
}
