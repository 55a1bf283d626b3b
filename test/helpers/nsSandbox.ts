import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from "node:fs";
import path from "node:path";
import { cgroupLayout, vmCgroupDirs } from "../../src/helper/cgroupLayout.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { waitFor } from "../../src/util/poll.js";
import { type CliResult, isAlive, Sandbox, waitDead } from "./sandbox.js";

const runner = new NodeCommandRunner();

/** Why an end-to-end test that boots guests cannot run here, or false. */
export function e2eSkipReason(): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const qemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].some((p) =>
    existsSync(p),
  );
  return qemu ? false : "needs qemu-system-x86_64 (apt-get install qemu-system-x86)";
}

/**
 * A throwaway user (Sandbox) whose every CLI run — and so its daemon, bridge,
 * TAPs and VMs — lives in a network namespace made for it and deleted after.
 */
export class NsSandbox {
  private constructor(
    readonly ns: string,
    readonly sb: Sandbox,
  ) {}

  static async create(prefix: string, env: Record<string, string> = {}): Promise<NsSandbox> {
    const ns = `${prefix}-${process.pid}-${randomBytes(2).toString("hex")}`;
    await runner.run(["ip", "netns", "add", ns]);
    await runner.run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const sb = new Sandbox(env);
    sb.wrap = ["ip", "netns", "exec", ns];
    return new NsSandbox(ns, sb);
  }

  cli(args: string[]): Promise<CliResult> {
    return this.sb.cli(args);
  }

  /** Run banger and insist on exit 0 (the message carries its output). */
  async ok(args: string[]): Promise<CliResult> {
    const r = await this.sb.cli(args);
    assert.equal(r.code, 0, `banger ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse((await this.ok([...args, "--json"])).stdout) as T;
  }

  /** A host command inside the namespace (dig, ssh-keyscan, ip ...). */
  inNs(cmd: string, args: string[]): string {
    return execFileSync("ip", ["netns", "exec", this.ns, cmd, ...args], { encoding: "utf8" });
  }

  /** Every process whose command line mentions the sandbox dir (daemon), or whose stdout is a file there (VMMs: their argv holds no paths). */
  processes(): number[] {
    return readdirSync("/proc")
      .filter((x) => /^\d+$/.test(x))
      .map(Number)
      .filter((pid) => {
        try {
          if (pid === process.pid) return false;
          if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.sb.dir)) return true;
          return readlinkSync(`/proc/${pid}/fd/1`).startsWith(`${this.sb.dir}/`);
        } catch {
          return false;
        }
      });
  }

  /** Stop the daemon, kill what is left by pid, delete the namespace and the temp dir. */
  async cleanup(): Promise<void> {
    await this.sb.cli(["daemon", "stop"]).catch(() => undefined);
    for (const pid of this.processes()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitDead(pid);
    }
    removeVmCgroups(path.join(this.sb.stateDir, "vms"));
    await runner.run(["ip", "netns", "del", this.ns], { allowFailure: true });
    await this.sb.cleanup();
  }
}

/**
 * The cgroups of the VMs under `vmsDir` whose VMMs were killed by pid (the
 * daemon removes a VM's cgroup only when it stops the VM itself). Root's
 * daemon runs its helper in this process's cgroups, so their bases are ours.
 */
function removeVmCgroups(vmsDir: string): void {
  if (!existsSync(vmsDir)) return;
  const layout = cgroupLayout(
    readFileSync("/proc/self/mounts", "utf8"),
    readFileSync("/proc/self/cgroup", "utf8"),
  );
  if (!layout) return;
  for (const id of readdirSync(vmsDir)) {
    if (!/^[0-9a-f]{16}$/.test(id)) continue;
    for (const dir of new Set(Object.values(vmCgroupDirs(layout, process.getuid?.() ?? 0, id)))) {
      try {
        rmdirSync(dir);
      } catch {
        // absent (stopped through banger), or still busy
      }
    }
  }
}

/** `banger image register NAME` argv for the cached test guest. */
export function registerArgs(
  name: string,
  g: { vmlinux: string; initrd: string; rootfs: string; workSeed: string },
): string[] {
  return [
    "image",
    "register",
    name,
    "--kernel",
    g.vmlinux,
    "--initrd",
    g.initrd,
    "--rootfs",
    g.rootfs,
    "--work-seed",
    g.workSeed,
  ];
}

/** Poll `fn` until it returns something other than undefined. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const onTimeout = () => new Error(`timed out waiting for ${what}`);
  return waitFor(() => fn().catch(() => undefined), {
    timeoutMs: ms,
    intervalMs: 500,
    what,
    onTimeout,
  }) as Promise<T>;
}

/** The config of a sandbox that boots the small test guest: QEMU, 1 vCPU, 512M, a 1G work disk. */
export function tinyConfig(opts: { defaultImage?: string; extra?: string[] } = {}): string {
  return [
    'vmm = "qemu"',
    ...(opts.defaultImage ? [`default_image_name = "${opts.defaultImage}"`] : []),
    ...(opts.extra ?? []),
    "[vm_defaults]",
    "vcpu = 1",
    'memory = "512M"',
    'disk_size = "1G"',
    "",
  ].join("\n");
}

/** A namespace sandbox with the test guest registered as "tiny" and made the default image. */
export async function tinyGuestSandbox(
  prefix: string,
  g: { vmlinux: string; initrd: string; rootfs: string; workSeed: string },
): Promise<NsSandbox> {
  const t = await NsSandbox.create(prefix);
  t.sb.writeConfig(tinyConfig({ defaultImage: "tiny" }));
  await t.ok(registerArgs("tiny", g));
  return t;
}
