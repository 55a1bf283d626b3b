/**
 * The one readiness rule (create, start, run and `vm health`): a VM of an
 * image with banger's agent is ready when the agent answers; of an image with
 * an sshd (and no agent), when TCP 22 answers with an SSH banner; otherwise
 * when its VMM runs. No call waits for an agent the image does not have.
 */
import type { GuestHealth, HealthReport } from "../../api/agent.js";
import { toBangerError } from "../../errors/index.js";
import { type ImageCapabilities, type Readiness, readinessOf } from "../../model/image.js";
import type { Vm } from "../../model/vm.js";

export interface ReadinessProbes {
  /** Ask the agent for health (throws when it does not answer). */
  agent(): Promise<GuestHealth>;
  /** Read the SSH banner from the guest's port 22 (throws when none). */
  sshBanner(ip: string): Promise<string>;
}

/** Report for a running VM; `graceMs` since start counts as "starting" rather than "unreachable". */
export async function probeReadiness(
  vm: Vm,
  caps: ImageCapabilities,
  probes: ReadinessProbes,
  opts: { now: Date; graceMs: number },
): Promise<HealthReport> {
  const via = readinessOf(caps);
  const base = { name: vm.name, via, checkedAt: opts.now.toISOString() };
  if (via === "started") {
    return {
      ...base,
      status: "healthy",
      reason:
        "the VMM runs (the image has neither banger's agent nor an sshd, so nothing inside can be checked)",
      guest: null,
    };
  }
  try {
    if (via === "agent") {
      const guest = await probes.agent();
      return { ...base, status: "healthy", reason: "the guest agent answered", guest };
    }
    const banner = await probes.sshBanner(vm.network?.ip ?? "");
    return { ...base, status: "healthy", reason: `sshd answered on port 22 (${banner})`, guest: null };
  } catch (e) {
    return { ...base, ...notAnswering(vm, via, toBangerError(e).message, opts), guest: null };
  }
}

const WHAT: Record<Exclude<Readiness, "started">, string> = {
  agent: "the guest agent",
  ssh: "sshd (port 22)",
};

function notAnswering(
  vm: Vm,
  via: Exclude<Readiness, "started">,
  why: string,
  opts: { now: Date; graceMs: number },
): Pick<HealthReport, "status" | "reason"> {
  const since = vm.startedAt ? opts.now.getTime() - vm.startedAt.getTime() : Number.POSITIVE_INFINITY;
  if (since < opts.graceMs) {
    return {
      status: "starting",
      reason: `booting: ${WHAT[via]} has not answered yet (${Math.round(since / 1000)} s since start)`,
    };
  }
  return { status: "unreachable", reason: `${WHAT[via]} does not answer: ${why}` };
}
