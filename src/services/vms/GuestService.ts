import type { GuestHealth, HealthReport, ListeningPort, VmStats } from "../../api/agent.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { ImageCapabilities } from "../../model/image.js";
import type { Vm } from "../../model/vm.js";
import type { VmmHandle } from "../../model/vmm.js";
import type { Store } from "../../store/Store.js";
import type { AgentClient, ExecOptions } from "../agent/AgentClient.js";
import type { ProcessStats } from "../stats/StatsSampler.js";
import { probeReadiness } from "./readiness.js";

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
  /** What the VM's image provides (real: ImageService.capabilities). Default: agent and sshd. */
  capabilitiesOf?: (vm: Vm) => Promise<ImageCapabilities>;
  /** Read the SSH banner at ip:22 (real: host/node/sshBanner). */
  sshBanner?: (ip: string, timeoutMs: number) => Promise<string>;
}

const WITH_AGENT: ImageCapabilities = { agent: true, sshd: true };

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

  private caps(vm: Vm): Promise<ImageCapabilities> {
    return this.deps.capabilitiesOf?.(vm) ?? Promise.resolve(WITH_AGENT);
  }

  /** A running VM whose image has the agent; a clear CONFLICT for one without (use SSH instead). */
  private async withAgent(name: string, what: string): Promise<Vm & { vmm: VmmHandle }> {
    const vm = this.running(name);
    if ((await this.caps(vm)).agent) return vm;
    const img = this.deps.store.images.getById(vm.imageId);
    throw new BangerError(
      ErrorCodes.CONFLICT,
      `${what} needs banger's guest agent, and VM "${vm.name}"'s image "${img.name}" has none`,
      {
        hint: `use \`banger vm ssh ${vm.name} -- CMD\` if the image has an sshd, or add the agent to the image (docs/images.md)`,
      },
    );
  }

  /** The readiness rule of the VM's image (see readiness.ts). */
  async health(name: string): Promise<HealthReport> {
    const vm = this.deps.store.vms.get(name);
    const now = this.now();
    if (vm.state !== "running" || !vm.vmm) {
      return {
        name: vm.name,
        status: "stopped",
        reason: `the VM is ${vm.state}`,
        guest: null,
        checkedAt: now.toISOString(),
      };
    }
    const timeoutMs = this.deps.agentTimeoutMs ?? 3000;
    const running = vm as Vm & { vmm: VmmHandle };
    const report = await probeReadiness(
      vm,
      await this.caps(vm),
      {
        agent: async () => (await this.agent(running)).health({ timeoutMs }),
        sshBanner: (ip) =>
          this.deps.sshBanner
            ? this.deps.sshBanner(ip, timeoutMs)
            : Promise.reject(new Error("no SSH probe in this daemon")),
      },
      { now, graceMs: this.deps.startGraceMs ?? 180_000 },
    );
    if (report.status !== "healthy" && report.via === "agent") this.deps.agents.drop(vm.id);
    return report;
  }

  /**
   * Wait until the guest agent answers (healthy), the VM stops, or the time
   * runs out; one call for clients instead of a health poll of their own.
   */
  async waitReady(name: string, timeoutMs: number, signal: AbortSignal): Promise<HealthReport> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await this.health(name);
      if (h.status === "healthy" || h.status === "stopped") return h;
      if (signal.aborted)
        throw new BangerError(ErrorCodes.CANCELLED, `waiting for VM "${name}" was cancelled`);
      if (Date.now() >= deadline) {
        throw new BangerError(
          ErrorCodes.TIMEOUT,
          `VM "${name}" did not become ready within ${Math.round(timeoutMs / 1000)} s: ${h.reason}`,
          { hint: `read its console with \`banger vm logs ${name}\`` },
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async exec(name: string, argv: string[], opts: ExecOptions): Promise<number> {
    if (argv.length === 0) throw new BangerError(ErrorCodes.INVALID_ARGUMENT, "argv: give a command to run");
    return (await this.agent(await this.withAgent(name, "`vm exec`"))).exec(argv, opts);
  }

  /** The guest agent of a running VM (for file transfers). */
  async agentFor(name: string): Promise<AgentApi> {
    return this.agent(this.running(name));
  }

  async ports(name: string): Promise<ListeningPort[]> {
    const vm = await this.withAgent(name, "`vm ports`");
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
        const hasAgent = await this.caps(vm).then(
          (c) => c.agent,
          () => false,
        );
        const guest: GuestHealth | null = hasAgent
          ? await this.agent(vm as Vm & { vmm: VmmHandle })
              .then((a) => a.health({ timeoutMs: this.deps.agentTimeoutMs ?? 3000 }))
              .catch(() => null)
          : null;
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
