/** Wire types of what the guest agent reports (shared by daemon, CLI and TUI). */

export interface GuestHealth {
  uptimeSec: number;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number };
  disks: Array<{ mount: "/" | "/root"; totalBytes: number; usedBytes: number }>;
}

export interface HealthReport {
  name: string;
  /** healthy: the agent answered; starting: the VMM runs but the agent has not answered yet (booting); unreachable: it should answer and does not. */
  status: "healthy" | "starting" | "unreachable" | "stopped";
  /** What was checked (the image's readiness rule): the agent, SSH on port 22, or only the VMM. */
  via?: "agent" | "ssh" | "started";
  reason: string;
  guest: GuestHealth | null;
  checkedAt: string;
}

export interface ListeningPort {
  proto: "tcp" | "tcp6";
  address: string;
  port: number;
  /** NAME.vm:PORT */
  url: string;
}

export interface VmStats {
  name: string;
  state: string;
  /** VMM process CPU use, percent of one core, over the last sample interval. */
  cpuPercent: number | null;
  rssBytes: number | null;
  guest: GuestHealth | null;
  sampledAt: string | null;
}
