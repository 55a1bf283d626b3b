/**
 * Network isolation for tests that boot guests: a runner that runs every
 * command inside a network namespace, and a throwaway namespace holding a
 * bridge and a TAP. Nothing is routed out and nothing is NATed.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import type { CommandRunner, RunOptions, RunResult } from "../../src/host/runner.js";
import type { BootSpec } from "../../src/vmm/driver.js";

/** Runs each argv as `ip netns exec NS argv...`. */
export class NetnsRunner implements CommandRunner {
  constructor(
    readonly netns: string,
    private readonly inner: CommandRunner = new NodeCommandRunner(),
  ) {}

  wrap(argv: readonly string[]): string[] {
    return ["ip", "netns", "exec", this.netns, ...argv];
  }

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return this.inner.run(this.wrap(argv), opts);
  }
}

export interface TestNetns {
  name: string;
  bridge: string;
  tap: string;
  /** Host side address on the bridge, for example 172.30.99.1. */
  hostIp: string;
  /** The address the guest should take, for example 172.30.99.2. */
  guestIp: string;
  prefixLen: number;
  netmask: string;
  /** A runner whose commands run inside the namespace. */
  runner: NetnsRunner;
  /** Delete the namespace (its bridge and TAP go with it). Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface TestNetnsOptions {
  /** Name prefix; a pid and random suffix make the name unique. Default "bgt". */
  prefix?: string;
  /** Third octet of 172.30.X.0/24 (the subnet exists only inside the namespace). Default 99. */
  subnet?: number;
  runner?: CommandRunner;
}

/** Create `ip netns add NAME` with a bridge (host address) and one TAP on it, all inside. */
export async function createTestNetns(opts: TestNetnsOptions = {}): Promise<TestNetns> {
  const runner = opts.runner ?? new NodeCommandRunner();
  const name = `${opts.prefix ?? "bgt"}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const subnet = opts.subnet ?? 99;
  const ns: TestNetns = {
    name,
    bridge: "br0",
    tap: "tap0",
    hostIp: `172.30.${subnet}.1`,
    guestIp: `172.30.${subnet}.2`,
    prefixLen: 24,
    netmask: "255.255.255.0",
    runner: new NetnsRunner(name, runner),
    async cleanup() {
      const list = await runner.run(["ip", "netns", "list"], { allowFailure: true });
      if (list.stdout.split("\n").some((l) => l.split(" ")[0] === name)) {
        await runner.run(["ip", "netns", "del", name]);
      }
    },
  };
  await runner.run(["ip", "netns", "add", name]);
  try {
    const ip = (...args: string[]) => runner.run(["ip", "-n", name, ...args]);
    await ip("link", "set", "lo", "up");
    await ip("link", "add", ns.bridge, "type", "bridge");
    await ip("addr", "add", `${ns.hostIp}/${ns.prefixLen}`, "dev", ns.bridge);
    await ip("link", "set", ns.bridge, "up");
    await ip("tuntap", "add", "dev", ns.tap, "mode", "tap");
    await ip("link", "set", ns.tap, "master", ns.bridge);
    await ip("link", "set", ns.tap, "up");
  } catch (e) {
    await ns.cleanup().catch(() => undefined);
    throw e;
  }
  return ns;
}

/**
 * The BootSpec of the tiny test guest in a TestNetns: rootfs read-only,
 * DIR/work.ext4 and DIR/cow.ext4 (made by the test), the VM dir DIR/vm.
 */
export function testGuestSpec(
  dir: string,
  g: { vmlinux: string; initrd: string; rootfs: string },
  ns: TestNetns,
  ident: { id: string; name: string },
): BootSpec {
  const vmDir = path.join(dir, "vm");
  return {
    ...ident,
    vcpu: 1,
    memoryMib: 512,
    kernelPath: g.vmlinux,
    initrdPath: g.initrd,
    kernelArgs: [
      "banger.root=/dev/vda banger.work=/dev/vdb banger.cow=/dev/vdc",
      `ip=${ns.guestIp}::${ns.hostIp}:${ns.netmask}:${ident.name}:eth0:off`,
    ].join(" "),
    drives: [
      { id: "rootfs", path: g.rootfs, readOnly: true, isRoot: true },
      { id: "work", path: path.join(dir, "work.ext4"), readOnly: false, isRoot: false },
      { id: "cow", path: path.join(dir, "cow.ext4"), readOnly: false, isRoot: false },
    ],
    net: { tap: ns.tap, mac: "06:00:ac:1e:63:02" },
    cid: 3,
    vmDir,
    consoleLog: path.join(vmDir, "console.log"),
    vmmLog: path.join(vmDir, "vmm.log"),
    memoryFile: path.join(vmDir, "memory.raw"),
  };
}
