/**
 * GuestOps through the guest agent (AgentPool): sync before a state is saved,
 * the clock after a restore, a clone's identity after a fork. A guest whose
 * image has no agent is left alone by sync and the clock; a clone of one
 * cannot get its identity, so its fork fails.
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { Vm } from "../../model/vm.js";
import type { AgentClient } from "../agent/AgentClient.js";
import type { AgentPool } from "../agent/AgentPool.js";
import type { GuestIdentity, GuestOps } from "./deps.js";

type Agents = Pick<AgentPool, "get" | "drop">;

export class AgentGuestOps implements GuestOps {
  constructor(
    private readonly agents: Agents,
    /** Whether the VM's image has banger's agent. */
    private readonly hasAgent: (vm: Vm) => Promise<boolean>,
  ) {}

  private async agent(vm: Vm, fresh: boolean): Promise<AgentClient | null> {
    if (!vm.vmm || !(await this.hasAgent(vm))) return null;
    if (fresh) this.agents.drop(vm.id); // the connection to the previous VMM is gone
    return this.agents.get(vm.id, vm.vmm);
  }

  async sync(vm: Vm): Promise<void> {
    const a = await this.agent(vm, false);
    if (a) await a.sync();
  }

  /** The guest's clock stood still while it was saved: set it from the host's (busybox and GNU date). */
  async afterRestore(vm: Vm): Promise<void> {
    const a = await this.agent(vm, true);
    if (!a) return;
    const secs = (Date.now() / 1000).toFixed(3);
    const code = await a.exec(["date", "-u", "-s", `@${secs}`], { onStdout: () => {}, onStderr: () => {} });
    if (code !== 0)
      throw new BangerError(ErrorCodes.VMM, `setting the guest's clock failed (date exited ${code})`);
  }

  async setIdentity(vm: Vm, identity: GuestIdentity): Promise<void> {
    const a = await this.agent(vm, true);
    if (!a) {
      throw new BangerError(
        ErrorCodes.CONFLICT,
        `VM "${vm.name}"'s image has no guest agent to give a clone its identity`,
        {
          hint: "fork VMs of images with banger's agent (docs/images.md)",
        },
      );
    }
    const { network: n, hostKey: k } = identity;
    await a.setIdentity({
      hostname: identity.hostname,
      machineId: identity.machineId,
      clockMs: Date.now(),
      ...(n ? { network: { ip: n.ip, prefixLen: n.prefix, gateway: n.gateway, mac: n.mac } } : {}),
      ...(k ? { sshHostKey: { privateKey: k.privateKey.toString("utf8"), publicKey: k.publicKey } } : {}),
    });
  }
}
