/**
 * One AgentClient per VM, kept open: QEMU's agent chardev serves one client
 * at a time, so the daemon must never open a second connection to a VM.
 */
import { AgentClient, type AgentClientOptions, type AgentHandle } from "./AgentClient.js";

export type AgentConnector = (handle: AgentHandle, opts: AgentClientOptions) => Promise<AgentClient>;

export interface AgentPoolOptions {
  /** Default AgentClient.connect. */
  connect?: AgentConnector;
  clientOptions?: AgentClientOptions;
}

interface Entry {
  key: string;
  client: Promise<AgentClient>;
}

const keyOf = (h: AgentHandle) => `${h.driver}:${h.agentSocket}`;

export class AgentPool {
  private readonly entries = new Map<string, Entry>();
  private readonly connect: AgentConnector;

  constructor(private readonly opts: AgentPoolOptions = {}) {
    this.connect = opts.connect ?? ((h, o) => AgentClient.connect(h, o));
  }

  /**
   * The VM's connected client: the open one, or a new connection when there is
   * none, it dropped, or the VM's agent socket changed. Concurrent calls share one connect.
   */
  async get(vmId: string, handle: AgentHandle): Promise<AgentClient> {
    const key = keyOf(handle);
    const entry = this.entries.get(vmId);
    if (entry && entry.key === key) {
      const client = await entry.client.catch(() => undefined);
      if (client && !client.closed) return client;
      if (this.entries.get(vmId) !== entry) return this.get(vmId, handle); // replaced meanwhile
    } else if (entry) {
      void entry.client.then((c) => c.close()).catch(() => undefined);
    }
    const fresh: Entry = { key, client: this.connect(handle, this.opts.clientOptions ?? {}) };
    this.entries.set(vmId, fresh);
    try {
      return await fresh.client;
    } catch (e) {
      if (this.entries.get(vmId) === fresh) this.entries.delete(vmId);
      throw e;
    }
  }

  /** Close and forget the VM's client (when the VM stops or is deleted). */
  drop(vmId: string): void {
    const entry = this.entries.get(vmId);
    if (!entry) return;
    this.entries.delete(vmId);
    void entry.client.then((c) => c.close()).catch(() => undefined);
  }

  closeAll(): void {
    for (const vmId of [...this.entries.keys()]) this.drop(vmId);
  }

  get size(): number {
    return this.entries.size;
  }
}
