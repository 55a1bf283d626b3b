/**
 * Boot an image + kernel for real with the QEMU driver (TCG) inside a
 * throwaway network namespace, with per-VM disks from Ext4DiskManager and an
 * SSH key in the work disk; wait for SSH, ask the guest a few things, stop it
 * and clean everything up. Used by the golden image test.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import type { CommandRunner } from "../../src/host/runner.js";
import { AgentClient } from "../../src/services/agent/AgentClient.js";
import { Ext4DiskManager } from "../../src/services/disks/Ext4DiskManager.js";
import { generateHostKey } from "../../src/services/ssh/SshFiles.js";
import { drivesFor, guestKernelArgs } from "../../src/services/vms/kernelArgs.js";
import type { BootSpec, VmmHandle } from "../../src/vmm/driver.js";
import { QemuDriver } from "../../src/vmm/qemu/QemuDriver.js";
import { createTestNetns, type TestNetns } from "./netnsRunner.js";

export interface GoldenBoot {
  bootToSshMs: number;
  /** `systemctl is-active banger-agent ssh`, one word each. */
  active: string[];
  hostname: string;
  hosts: string;
  /** Anything still there after cleanup (netns, QEMU process). */
  leftovers: string[];
  identity: GoldenIdentity;
}

/** After the agent's identity call (a fork's new address, name, machine id and host key). */
export interface GoldenIdentity {
  ms: number;
  /** What the guest says over SSH at its new address. */
  hostname: string;
  machineId: string;
  wantedMachineId: string;
  /** `systemctl is-active ssh` after the reload. */
  sshActive: string;
  /** The key ssh-keyscan sees at the new address, and the one the host gave. */
  servedKey: string;
  wantedKey: string;
}

export interface GoldenBootOptions {
  t: TestContext;
  work: string;
  image: Record<string, string>;
  kernel: Record<string, string>;
  runner: CommandRunner;
  hostname?: string;
  /** Third octet of the namespace's 172.30.X.0/24. Default 98. */
  subnet?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function sshArgv(key: string, ip: string, command: string[]): string[] {
  return [
    "ssh",
    "-i",
    key,
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "LogLevel=ERROR",
    `root@${ip}`,
    ...command,
  ];
}

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("qemu-system");
  } catch {
    return false;
  }
}

async function specFor(o: GoldenBootOptions, ns: TestNetns, disks: Ext4DiskManager, key: string) {
  const vmDir = path.join(o.work, "vm");
  const prepared = await disks.prepare({
    vmDir,
    imageRootfs: o.image.rootfs!,
    imageWorkSeed: o.image.workSeed!,
    diskSizeBytes: 2 * 1024 ** 3,
  });
  const pub = await readFile(`${key}.pub`, "utf8");
  await disks.writeWorkFiles(prepared.work, [{ path: ".ssh/authorized_keys", content: pub, mode: 0o600 }]);
  const subnet = {
    cidr: `${ns.hostIp.replace(/\.1$/, ".0")}/${ns.prefixLen}`,
    gateway: ns.hostIp,
    netmask: ns.netmask,
    prefix: ns.prefixLen,
    guestAddresses: () => [ns.guestIp],
  };
  const hostname = o.hostname ?? "golden";
  const spec: BootSpec = {
    id: "60d1e9",
    name: hostname,
    vcpu: 1,
    memoryMib: 1024,
    kernelPath: o.kernel.vmlinux!,
    initrdPath: o.kernel.initrd ?? null,
    kernelArgs: guestKernelArgs({ ip: ns.guestIp, subnet, hostname, disks: prepared }),
    drives: drivesFor(prepared),
    net: { tap: ns.tap, mac: "06:00:ac:1e:62:02" },
    cid: 3,
    vmDir,
    consoleLog: path.join(vmDir, "console.log"),
    vmmLog: path.join(vmDir, "vmm.log"),
    memoryFile: path.join(vmDir, "memory.raw"),
  };
  return { spec, prepared };
}

export async function bootGolden(o: GoldenBootOptions): Promise<GoldenBoot> {
  const { t, runner } = o;
  const ns = await createTestNetns({ prefix: "bgt-gold", subnet: o.subnet ?? 98, runner });
  const driver = new QemuDriver({
    commandPrefix: ["ip", "netns", "exec", ns.name],
    accelDetect: () => "tcg",
  });
  const disks = new Ext4DiskManager({ runner });
  const key = path.join(o.work, "id_ed25519");
  let handle: VmmHandle | undefined;
  let prepared: Awaited<ReturnType<typeof specFor>>["prepared"] | undefined;
  let spec: BootSpec | undefined;
  try {
    await runner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger-golden", "-f", key]);
    ({ spec, prepared } = await specFor(o, ns, disks, key));
    t.diagnostic(`kernel args: ${spec.kernelArgs} (root: ${prepared.rootMode})`);
    const t0 = performance.now();
    handle = (await driver.boot(spec)).handle;
    const ssh = (cmd: string[]) =>
      ns.runner.run(sshArgv(key, ns.guestIp, cmd), { allowFailure: true, timeoutMs: 30_000 });
    const deadline = Date.now() + 180_000;
    while ((await ssh(["true"])).code !== 0) {
      if (Date.now() > deadline)
        throw new Error(`no SSH after 180 s; console:\n${await tail(spec.consoleLog)}`);
      if (!driver.isAlive(handle)) throw new Error(`QEMU died; console:\n${await tail(spec.consoleLog)}`);
      await sleep(500);
    }
    const bootToSshMs = performance.now() - t0;
    const active = (await ssh(["systemctl", "is-active", "banger-agent", "ssh"])).stdout.trim().split(/\s+/);
    const hostname = (await ssh(["hostname"])).stdout.trim();
    const hosts = (await ssh(["cat", "/etc/hosts"])).stdout;
    const analyze = await ssh([
      "sh",
      "-c",
      "systemd-analyze; systemd-analyze critical-chain ssh.service; systemd-analyze blame | head -15",
    ]);
    t.diagnostic(`guest: ${analyze.stdout.trim().replace(/\n\s*/g, " | ")}`);
    const identity = await goldenIdentity(o, ns, handle, key);
    const t1 = performance.now();
    await driver.stop(handle, { timeoutMs: 20_000 });
    t.diagnostic(`stop took ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    const left = await leftovers(runner, ns, handle);
    return { bootToSshMs, active, hostname, hosts, leftovers: left, identity };
  } finally {
    if (handle && driver.isAlive(handle))
      await driver.stop(handle, { timeoutMs: 2000 }).catch(() => undefined);
    if (prepared) await disks.remove(prepared).catch(() => undefined);
    await ns.cleanup();
  }
}

/** Give the booted guest a fork's identity through its agent, then look at it over SSH at the new address. */
async function goldenIdentity(o: GoldenBootOptions, ns: TestNetns, handle: VmmHandle, key: string) {
  const ip = ns.guestIp.replace(/\.2$/, ".9");
  const hostKey = await generateHostKey(o.runner, o.work, "golden-fork");
  const wantedMachineId = randomBytes(16).toString("hex");
  const client = await AgentClient.connect(handle);
  let ms: number;
  try {
    const t0 = performance.now();
    await client.setIdentity({
      hostname: "golden-fork",
      machineId: wantedMachineId,
      network: { ip, prefixLen: ns.prefixLen, gateway: ns.hostIp, mac: "06:00:ac:1e:62:09" },
      sshHostKey: { privateKey: hostKey.privateKey.toString("utf8"), publicKey: hostKey.publicKey },
    });
    ms = performance.now() - t0;
    o.t.diagnostic(`identity (sshd reloaded by SIGHUP) took ${ms.toFixed(0)} ms`);
    await client.sync();
  } finally {
    client.close();
  }
  const scan = await ns.runner.run(["ssh-keyscan", "-t", "ed25519", "-T", "10", ip], { allowFailure: true });
  const servedKey = scan.stdout
    .split("\n")
    .find((l) => l.startsWith(`${ip} `))
    ?.split(" ")
    .slice(1, 3)
    .join(" ");
  const ssh = (cmd: string[]) =>
    ns.runner.run(sshArgv(key, ip, cmd), { allowFailure: true, timeoutMs: 30_000 });
  return {
    ms,
    hostname: (await ssh(["hostname"])).stdout.trim(),
    machineId: (await ssh(["cat", "/etc/machine-id"])).stdout.trim(),
    wantedMachineId,
    sshActive: (await ssh(["systemctl", "is-active", "ssh"])).stdout.trim(),
    servedKey: servedKey ?? `none: ${scan.stderr.trim()}`,
    wantedKey: hostKey.publicKey.split(" ").slice(0, 2).join(" "),
  };
}

async function leftovers(runner: CommandRunner, ns: TestNetns, handle: VmmHandle): Promise<string[]> {
  const out: string[] = [];
  if (alive(handle.pid)) out.push(`QEMU pid ${handle.pid}`);
  await ns.cleanup();
  const list = await runner.run(["ip", "netns", "list"]);
  if (list.stdout.split("\n").some((l) => l.split(" ")[0] === ns.name)) out.push(`netns ${ns.name}`);
  return out;
}

async function tail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-lines).join("\n");
}
