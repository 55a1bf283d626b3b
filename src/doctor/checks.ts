/**
 * Host checks for `banger doctor`, reusable as command-scoped preflights.
 * Each check reads the host only through the HostProbe port.
 */
import { VMM_SYSTEM_USER } from "../helper/protocol.js";
import { kvmStatus } from "../host/kvm.js";
import { subidStatus } from "../images/subids.js";
import { selectVmm, type VmmFacts } from "../vmm/select.js";
import { ISOLATION_CHECKS } from "./isolation.js";
import { privilegesCheck } from "./privileges.js";
import type { CheckContext, CheckDef } from "./types.js";

export type { CheckContext, CheckDef, VmDefaultsView } from "./types.js";

const GiB = 1024 ** 3;

const pass = (detail: string) => ({ status: "pass" as const, detail });
const warn = (detail: string, fix: string) => ({ status: "warn" as const, detail, fix });
const fail = (detail: string, fix: string) => ({ status: "fail" as const, detail, fix });

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

/** A check that a tool is installed, reporting its version line. */
function toolCheck(id: string, bin: string, versionArgs: string[], pkg: string, required = true): CheckDef {
  return {
    id,
    title: bin,
    async run({ probe }) {
      const p = await probe.which(bin);
      const fix = `sudo apt-get install ${pkg}`;
      if (!p) return required ? fail("not found", fix) : warn("not found", fix);
      const r = versionArgs.length ? await probe.run([p, ...versionArgs]) : null;
      const v = r ? firstLine(r.stdout || r.stderr) : "";
      return pass(v ? `${p} (${v})` : p);
    },
  };
}

export async function gatherVmmFacts(ctx: CheckContext): Promise<VmmFacts> {
  const { probe, config } = ctx;
  return {
    kvmUsable: (await kvmStatus(probe)).usable,
    firecrackerPath: await probe.which(config.firecracker_bin.value ?? "firecracker"),
    qemuPath: await probe.which(config.qemu_bin.value ?? "qemu-system-x86_64"),
  };
}

const nodeCheck: CheckDef = {
  id: "node",
  title: "Node.js",
  async run({ probe }) {
    const major = Number(probe.nodeVersion.split(".")[0]);
    return major >= 20
      ? pass(`v${probe.nodeVersion}`)
      : fail(`v${probe.nodeVersion} is older than 20`, "install Node.js 20 or newer");
  },
};

const kvmCheck: CheckDef = {
  id: "kvm",
  title: "/dev/kvm",
  async run({ probe }) {
    const k = await kvmStatus(probe);
    if (k.usable) return pass(k.detail);
    return warn(`${k.detail}: VMs run under QEMU with TCG software emulation (slow)`, k.fix ?? "");
  },
};

const firecrackerCheck: CheckDef = {
  id: "firecracker",
  title: "firecracker",
  async run(ctx) {
    const bin = ctx.config.firecracker_bin.value ?? "firecracker";
    const p = await ctx.probe.which(bin);
    const fix = "install firecracker (a release binary) on PATH, or set firecracker_bin in config.toml";
    if (!p) {
      return ctx.config.vmm.value === "firecracker"
        ? fail(`${bin} not found and vmm = firecracker`, fix)
        : warn(`${bin} not found: QEMU is used instead`, fix);
    }
    const r = await ctx.probe.run([p, "--version"]);
    return pass(`${p} (${r ? firstLine(r.stdout || r.stderr) : "version unknown"})`);
  },
};

const qemuCheck: CheckDef = {
  id: "qemu",
  title: "qemu-system-x86_64",
  async run(ctx) {
    const facts = await gatherVmmFacts(ctx);
    const bin = ctx.config.qemu_bin.value ?? "qemu-system-x86_64";
    const fix = "sudo apt-get install qemu-system-x86";
    if (!facts.qemuPath) {
      const needed =
        ctx.config.vmm.value === "qemu" ||
        (ctx.config.vmm.value === "auto" && !(facts.kvmUsable && facts.firecrackerPath));
      return needed
        ? fail(`${bin} not found, and no other VMM can run here`, fix)
        : warn(`${bin} not found`, fix);
    }
    const r = await ctx.probe.run([facts.qemuPath, "--version"]);
    return pass(`${facts.qemuPath} (${r ? firstLine(r.stdout) : "version unknown"})`);
  },
};

const vmmCheck: CheckDef = {
  id: "vmm",
  title: "VMM selection",
  async run(ctx) {
    const s = selectVmm(ctx.config.vmm.value, await gatherVmmFacts(ctx));
    return s.ok
      ? pass(`${s.driver} with ${s.acceleration.toUpperCase()} — ${s.reason}`)
      : fail(s.reason, s.fix);
  },
};

const tunCheck: CheckDef = {
  id: "tun",
  title: "/dev/net/tun",
  async run({ probe }) {
    if (!(await probe.exists("/dev/net/tun"))) return fail("absent", "sudo modprobe tun");
    // A VMM running as this user opens its TAP through /dev/net/tun (Debian's udev makes it 0666).
    if (probe.uid !== 0 && !(await probe.access("/dev/net/tun", 6))) {
      return fail("present, but this user cannot open it (VMMs run as you)", "sudo chmod 0666 /dev/net/tun");
    }
    return pass("present");
  },
};

const sudoCheck: CheckDef = {
  id: "sudo",
  title: "privileges",
  run: ({ probe }) => privilegesCheck(probe),
};

/** Rootless image builds: newuidmap/newgidmap and the builder's subordinate ids (root builds as banger-vmm). */
const rootlessImagesCheck: CheckDef = {
  id: "rootless-images",
  title: "image builds without root",
  async run({ probe }) {
    const tools = ["newuidmap", "newgidmap"];
    const found = await Promise.all(tools.map((b) => probe.which(b)));
    const missingTools = tools.filter((_, i) => !found[i]);
    if (missingTools.length > 0)
      return warn(`${missingTools.join(", ")} not found: image builds fail`, "sudo apt-get install uidmap");
    const who =
      probe.uid === 0
        ? await probe.run(["getent", "passwd", VMM_SYSTEM_USER])
        : await probe.run(["id", "-un"]);
    const name = probe.uid === 0 ? who?.stdout.split(":")[0]?.trim() : who?.stdout.trim();
    if (!name || who?.code !== 0) {
      return probe.uid === 0
        ? warn(
            `no user ${VMM_SYSTEM_USER}: root's image builds run as that user`,
            "run scripts/install as root (it creates the user)",
          )
        : warn("cannot tell this user's name (id -un)", "check the user database");
    }
    const uid = probe.uid === 0 ? Number(who.stdout.split(":")[2]) : probe.uid;
    const s = subidStatus(
      { name, uid },
      await probe.readText("/etc/subuid"),
      await probe.readText("/etc/subgid"),
    );
    const as = probe.uid === 0 ? ` (root builds as ${name})` : "";
    return s.ok ? pass(`${s.detail}${as}`) : warn(`${s.detail}: image builds fail${as}`, s.fix ?? "");
  },
};

const stateDirCheck: CheckDef = {
  id: "state-dir",
  title: "state directory",
  async run({ probe, paths }) {
    const err = await probe.tryWrite(paths.stateDir);
    if (err)
      return fail(
        `${paths.stateDir} is not writable: ${err}`,
        `fix the permissions of ${paths.stateDir} or set XDG_STATE_HOME`,
      );
    const free = await probe.freeBytes(paths.stateDir);
    if (free === null) return warn(`${paths.stateDir}: free space unknown`, "check with df");
    const detail = `${paths.stateDir} (${(free / GiB).toFixed(1)} GiB free)`;
    if (free < GiB / 2) return fail(detail, "free disk space: images and work disks need several GiB");
    if (free < 5 * GiB) return warn(detail, "free disk space: images and work disks need several GiB");
    return pass(detail);
  },
};

const vmDefaultsCheck: CheckDef = {
  id: "vm-defaults",
  title: "VM defaults",
  async run({ vmDefaults: d, paths }) {
    const gib = d.diskSizeBytes.value / GiB;
    return pass(
      `vcpu ${d.vcpu.value} (${d.vcpu.source}) · memory ${d.memoryMib.value} MiB (${d.memoryMib.source}) · ` +
        `disk ${Number.isInteger(gib) ? `${gib}G` : `${(d.diskSizeBytes.value / 1024 ** 2).toFixed(0)}M`} (${d.diskSizeBytes.source}); ` +
        `override in [vm_defaults] of ${paths.configFile}`,
    );
  },
};

/** Every check, in the order doctor prints them. */
export const CHECKS: readonly CheckDef[] = [
  nodeCheck,
  kvmCheck,
  firecrackerCheck,
  qemuCheck,
  vmmCheck,
  tunCheck,
  toolCheck("ip", "ip", ["-V"], "iproute2"),
  ...ISOLATION_CHECKS,
  toolCheck("mkfs.ext4", "mkfs.ext4", ["-V"], "e2fsprogs"),
  toolCheck("e2fsck", "e2fsck", ["-V"], "e2fsprogs"),
  toolCheck("resize2fs", "resize2fs", [], "e2fsprogs"),
  toolCheck("debugfs", "debugfs", ["-V"], "e2fsprogs"),
  toolCheck("ssh", "ssh", ["-V"], "openssh-client"),
  toolCheck("ssh-keygen", "ssh-keygen", [], "openssh-client"),
  sudoCheck,
  rootlessImagesCheck,
  stateDirCheck,
  vmDefaultsCheck,
];
