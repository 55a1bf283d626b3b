import type { GuestHealth, HealthReport, ListeningPort, VmStats } from "../../api/agent.js";
import { BangerError, ErrorCodes, toBangerError } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import type { VmmHandle } from "../../model/vmm.js";
import type { Store } from "../../store/Store.js";
import type { AgentClient, ExecOptions } from "../agent/AgentClient.js";
import type { ProcessStats } from "../stats/StatsSampler.js";

export type AgentApi = Pick<AgentClient, "ping" | "health" | "ports" | "exec" | "session">;

/** One connection per VM (QEMU's agent channel serves one client at a time). Real: AgentPool. */
export interface AgentSource {
  get(vmId: string, handle: VmmHandle): Promise<AgentApi>;
  drop(vmId: string): void;
}

export interface ProcessSampler {
  sample(pid: number): Promise<ProcessStats | null>;
  retain(pids: Iterable<number>): void;
}

export interface GuestServiceDeps {
  store: Store;
  agents: AgentSource;
  sampler: ProcessSampler;
  /** A VM counts as "starting" (not "unreachable") this long after its VMM started. */
  startGraceMs?: number;
  /** How long one agent request may take. */
  agentTimeoutMs?: number;
  now?: () => Date;
}

/** What banger learns from inside running guests (through the agent) and about their VMM processes. */
export class GuestService {
  private readonly cache = new Map<string, VmStats>();
  private readonly now: () => Date;

  constructor(private readonly deps: GuestServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private running(name: string): Vm & { vmm: VmmHandle } {
    const vm = this.deps.store.vms.get(name);
    if (vm.state !== "running" || !vm.vmm) {
      throw new BangerError(ErrorCodes.CONFLICT, `VM "${vm.name}" is ${vm.state}`, {
        hint: `start it with \`banger vm start ${vm.name}\``,
      });
    }
    return vm as Vm & { vmm: VmmHandle };
  }

  private async agent(vm: Vm & { vmm: VmmHandle }): Promise<AgentApi> {
    return this.deps.agents.get(vm.id, vm.vmm);
  }

  async health(name: string): Promise<HealthReport> {
    const vm = this.deps.store.vms.get(name);
    const checkedAt = this.now().toISOString();
    if (vm.state !== "running" || !vm.vmm) {
      return { name: vm.name, status: "stopped", reason: `the VM is ${vm.state}`, guest: null, checkedAt };
    }
    try {
      const guest = await (await this.agent(vm as Vm & { vmm: VmmHandle })).health({
        timeoutMs: this.deps.agentTimeoutMs ?? 3000,
      });
      return { name: vm.name, status: "healthy", reason: "the guest agent answered", guest, checkedAt };
    } catch (e) {
      this.deps.agents.drop(vm.id);
      const err = toBangerError(e);
      const sinceStart = vm.startedAt
        ? this.now().getTime() - vm.startedAt.getTime()
        : Number.POSITIVE_INFINITY;
      const booting = sinceStart < (this.deps.startGraceMs ?? 180_000);
      return {
        name: vm.name,
        status: booting ? "starting" : "unreachable",
        reason: booting
          ? `booting: the guest agent has not answered yet (${Math.round(sinceStart / 1000)} s since start)`
          : `the guest agent does not answer: ${err.message}`,
        guest: null,
        checkedAt,
      };
    }
  }

  async exec(name: string, argv: string[], opts: ExecOptions): Promise<number> {
    if (argv.length === 0) throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "argv: give a command to run");
    return (await this.agent(this.running(name))).exec(argv, opts);
  }

  /** The guest agent of a running VM (for file transfers). */
  async agentFor(name: string): Promise<AgentApi> {
    return this.agent(this.running(name));
  }

  async ports(name: string): Promise<ListeningPort[]> {
    const vm = this.running(name);
    const ports = await (await this.agent(vm)).ports({ timeoutMs: this.deps.agentTimeoutMs ?? 3000 });
    return ports
      .map((p) => ({ ...p, url: `${vm.name}.vm:${p.port}` }))
      .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  }

  /** One sample of every running VM: VMM CPU% and RSS from /proc, guest figures from the agent. */
  async sampleAll(): Promise<void> {
    const vms = this.deps.store.vms.list({ skipCorrupt: true }).items;
    const running = vms.filter((v) => v.state === "running" && v.vmm);
    this.deps.sampler.retain(running.map((v) => v.vmm!.pid));
    for (const name of [...this.cache.keys()])
      if (!running.some((v) => v.name === name)) this.cache.delete(name);
    await Promise.all(
      running.map(async (vm) => {
        const proc = await this.deps.sampler.sample(vm.vmm!.pid);
        const guest: GuestHealth | null = await this.agent(vm as Vm & { vmm: VmmHandle })
          .then((a) => a.health({ timeoutMs: this.deps.agentTimeoutMs ?? 3000 }))
          .catch(() => null);
        this.cache.set(vm.name, {
          name: vm.name,
          state: vm.state,
          cpuPercent: proc?.cpuPercent ?? null,
          rssBytes: proc?.rssBytes ?? null,
          guest,
          sampledAt: this.now().toISOString(),
        });
      }),
    );
  }

  /** The latest samples (all VMs, or one). Stopped VMs appear with empty figures. */
  stats(name?: string): VmStats[] {
    const vms = name
      ? [this.deps.store.vms.get(name)]
      : this.deps.store.vms.list({ skipCorrupt: true }).items;
    return vms.map(
      (vm) =>
        this.cache.get(vm.name) ?? {
          name: vm.name,
          state: vm.state,
          cpuPercent: null,
          rssBytes: null,
          guest: null,
          sampledAt: null,
        },
    );
  }

  forget(vmId: string): void {
    this.deps.agents.drop(vmId);
  }
}
