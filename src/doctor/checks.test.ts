import assert from "node:assert/strict";
import { test } from "node:test";
import { ISSUE_CHECK_IDS } from "../../test/helpers/doctorSpec.js";
import type { CheckResult } from "../api/doctor.js";
import { resolvePaths } from "../config/paths.js";
import type { ResolvedConfig } from "../config/types.js";
import { validateConfig } from "../config/validate.js";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { HELPER_INSTALL_PATH } from "../helper/protocol.js";
import { FakeHostProbe, type FakeHostSpec } from "../host/fake/FakeHostProbe.js";
import { bundlePath, installedHelperText } from "../host/helper/install.js";
import type { CheckContext } from "./checks.js";
import { preflight, report, runChecks } from "./run.js";

const env = { HOME: "/home/u" };
const paths = resolvePaths(env);

function config(raw: object = {}): ResolvedConfig {
  const r = validateConfig(raw, env);
  assert.ok(r.config, JSON.stringify(r.problems));
  return r.config;
}

const ALL_BINS = {
  "qemu-system-x86_64": "/usr/bin/qemu-system-x86_64",
  ip: "/usr/sbin/ip",
  nft: "/usr/sbin/nft",
  "mkfs.ext4": "/usr/sbin/mkfs.ext4",
  e2fsck: "/usr/sbin/e2fsck",
  resize2fs: "/usr/sbin/resize2fs",
  debugfs: "/usr/sbin/debugfs",
  ssh: "/usr/bin/ssh",
  "ssh-keygen": "/usr/bin/ssh-keygen",
  sudo: "/usr/bin/sudo",
};

function ctx(spec: FakeHostSpec, raw: object = {}): CheckContext {
  return {
    probe: new FakeHostProbe({
      bins: ALL_BINS,
      files: {
        "/dev/net/tun": "",
        [bundlePath()]: "#!/usr/bin/env node\nhelper();\n",
        [HELPER_INSTALL_PATH]: installedHelperText("#!/usr/bin/env node\nhelper();\n"),
      },
      runs: { [`sudo -n -l ${HELPER_INSTALL_PATH}`]: { code: 0 } },
      ...spec,
    }),
    config: config(raw),
    paths,
    vmDefaults: {
      vcpu: { value: 2, source: "auto" },
      memoryMib: { value: 2048, source: "auto" },
      diskSizeBytes: { value: 8 * 1024 ** 3, source: "builtin" },
    },
  };
}

const byId = (rs: CheckResult[], id: string) => rs.find((r) => r.id === id);

test("a host with qemu and no kvm passes with warnings and selects qemu/tcg", async () => {
  const rs = await runChecks(ctx({}));
  const r = report("daemon", rs);
  assert.equal(r.ok, true, JSON.stringify(rs.filter((c) => c.status === "fail")));
  assert.equal(byId(rs, "kvm")?.status, "warn");
  assert.match(byId(rs, "vmm")?.detail ?? "", /qemu with TCG/);
  assert.equal(byId(rs, "firecracker")?.status, "warn");
});

test("every check the issue names is present", async () => {
  const ids = (await runChecks(ctx({}))).map((c) => c.id);
  for (const id of ISSUE_CHECK_IDS) {
    assert.ok(ids.includes(id), `missing check ${id}`);
  }
});

test("a /dev/kvm without vmx/svm (nested PVM) is not usable", async () => {
  const rs = await runChecks(
    ctx({ files: { "/dev/kvm": "", "/dev/net/tun": "", "/proc/cpuinfo": "flags\t: fpu sse2 hypervisor\n" } }),
  );
  assert.equal(byId(rs, "kvm")?.status, "warn");
  assert.match(byId(rs, "kvm")?.detail ?? "", /no vmx\/svm/);
});

test("kvm with vmx and a firecracker binary selects firecracker", async () => {
  const rs = await runChecks(
    ctx({
      bins: { ...ALL_BINS, firecracker: "/opt/fc/firecracker" },
      files: { "/dev/kvm": "", "/dev/net/tun": "", "/proc/cpuinfo": "flags\t: fpu vmx sse2\n" },
      runs: { "/opt/fc/firecracker --version": { stdout: "Firecracker v1.16.1\n" } },
    }),
  );
  assert.match(byId(rs, "vmm")?.detail ?? "", /^firecracker with KVM/);
  assert.match(byId(rs, "firecracker")?.detail ?? "", /v1\.16\.1/);
});

test("no VMM at all fails with the apt command", async () => {
  const { "qemu-system-x86_64": _q, ...bins } = ALL_BINS;
  const rs = await runChecks(ctx({ bins }));
  assert.equal(byId(rs, "qemu")?.status, "fail");
  assert.match(byId(rs, "qemu")?.fix ?? "", /apt-get install qemu-system-x86/);
  assert.equal(report("cli", rs).ok, false);
});

test("missing e2fsprogs tools fail with the package to install", async () => {
  const { debugfs: _d, ...bins } = ALL_BINS;
  const rs = await runChecks(ctx({ bins }));
  assert.equal(byId(rs, "debugfs")?.status, "fail");
  assert.equal(byId(rs, "debugfs")?.fix, "sudo apt-get install e2fsprogs");
});

test("/dev/net/tun that a normal user cannot open fails with the chmod fix", async () => {
  const rs = await runChecks(ctx({ uid: 1000, denied: ["/dev/net/tun"] }));
  assert.equal(byId(rs, "tun")?.status, "fail");
  assert.equal(byId(rs, "tun")?.fix, "sudo chmod 0666 /dev/net/tun");
  assert.equal(byId(await runChecks(ctx({ uid: 0, denied: ["/dev/net/tun"] })), "tun")?.status, "pass");
});

test("a helper sudo refuses fails for a normal user, root needs none", async () => {
  const rs = await runChecks(
    ctx({ uid: 1000, runs: { [`sudo -n -l ${HELPER_INSTALL_PATH}`]: { code: 1 } } }),
  );
  assert.equal(byId(rs, "sudo")?.status, "fail");
  const root = await runChecks(ctx({ uid: 0, runs: {} }));
  assert.equal(byId(root, "sudo")?.status, "pass");
});

test("without nft the firewall check fails (every VM's isolation is nftables), nat or not", async () => {
  const { nft: _n, ...bins } = ALL_BINS;
  for (const nat of [true, false]) {
    const rs = await runChecks(ctx({ bins }, { network: { nat } }));
    assert.equal(byId(rs, "firewall")?.status, "fail");
    assert.equal(byId(rs, "firewall")?.fix, "sudo apt-get install nftables");
  }
});

test("low disk space warns, then fails; unwritable state dir fails", async () => {
  assert.equal(byId(await runChecks(ctx({ freeBytes: 2 * 1024 ** 3 })), "state-dir")?.status, "warn");
  assert.equal(byId(await runChecks(ctx({ freeBytes: 100 * 1024 ** 2 })), "state-dir")?.status, "fail");
  const rs = await runChecks(ctx({ writeError: "EACCES: permission denied" }));
  assert.match(byId(rs, "state-dir")?.detail ?? "", /not writable: EACCES/);
});

test("vm defaults show each value's provenance and where to override", async () => {
  const d = byId(await runChecks(ctx({})), "vm-defaults")?.detail ?? "";
  assert.match(d, /vcpu 2 \(auto\)/);
  assert.match(d, /memory 2048 MiB \(auto\)/);
  assert.match(d, /disk 8G \(builtin\)/);
  assert.match(d, /\[vm_defaults\] of \/home\/u\/\.config\/banger\/config\.toml/);
});

test("preflight fails with the same message and fix as doctor, before anything runs", async () => {
  const { "qemu-system-x86_64": _q, ...bins } = ALL_BINS;
  await assert.rejects(preflight(ctx({ bins }), ["qemu", "tun"]), (e: unknown) => {
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, ErrorCodes.PREFLIGHT_FAILED);
    assert.match(e.message, /qemu-system-x86_64: qemu-system-x86_64 not found/);
    assert.match(e.hint ?? "", /apt-get install qemu-system-x86/);
    return true;
  });
  await preflight(ctx({}), ["qemu", "tun"]);
  await assert.rejects(preflight(ctx({}), ["nope"]), /unknown preflight checks: nope/);
});

test("isolation: a forward chain dropping by default warns with nat, br_netfilter warns, TCG is named as no hardware boundary", async () => {
  const chains = JSON.stringify({
    nftables: [
      { chain: { family: "ip", table: "filter", name: "FORWARD", hook: "forward", policy: "drop" } },
    ],
  });
  const rs = await runChecks(
    ctx(
      {
        bins: { ...ALL_BINS, conntrack: "/usr/sbin/conntrack" },
        files: { "/dev/net/tun": "", "/proc/sys/net/bridge/bridge-nf-call-iptables": "1\n" },
        runs: { "sudo -n true": { code: 0 }, "nft -j list chains": { stdout: chains } },
      },
      { network: { nat: true } },
    ),
  );
  assert.equal(byId(rs, "forward-policy")?.status, "warn");
  assert.match(byId(rs, "forward-policy")?.detail ?? "", /ip filter FORWARD/);
  assert.equal(byId(rs, "br-netfilter")?.status, "warn");
  assert.equal(byId(rs, "isolation")?.status, "warn");
  assert.match(byId(rs, "isolation")?.detail ?? "", /NOT a hardware boundary/);
  assert.equal(byId(rs, "firewall")?.status, "pass");
  const calm = await runChecks(ctx({ bins: { ...ALL_BINS, conntrack: "/usr/sbin/conntrack" } }));
  assert.equal(byId(calm, "br-netfilter")?.status, "pass");
});

test("rootless image builds: subordinate ids and newuidmap; the exact usermod line when missing", async () => {
  const tools = { ...ALL_BINS, newuidmap: "/usr/bin/newuidmap", newgidmap: "/usr/bin/newgidmap" };
  const me = { "id -un": { stdout: "alice\n" } };
  const ok = byId(
    await runChecks(
      ctx({
        bins: tools,
        runs: me,
        files: {
          "/dev/net/tun": "",
          "/etc/subuid": "alice:100000:65536\n",
          "/etc/subgid": "alice:100000:65536\n",
        },
      }),
    ),
    "rootless-images",
  );
  assert.equal(ok?.status, "pass");
  assert.equal(ok?.detail, "subuid 100000+65536, subgid 100000+65536");

  const none = byId(
    await runChecks(ctx({ bins: tools, runs: me, files: { "/etc/subuid": "bob:100000:65536\n" } })),
    "rootless-images",
  );
  assert.equal(none?.status, "warn");
  assert.match(none?.detail ?? "", /no \/etc\/subuid range for alice; no \/etc\/subgid range for alice/);
  assert.equal(none?.fix, "sudo usermod --add-subuids 196608-262143 --add-subgids 196608-262143 alice");

  const noTools = byId(await runChecks(ctx({ runs: me })), "rootless-images");
  assert.equal(noTools?.status, "warn");
  assert.equal(noTools?.fix, "sudo apt-get install uidmap");

  const root = byId(
    await runChecks(
      ctx({
        uid: 0,
        bins: tools,
        runs: {
          "getent passwd banger-vmm": { stdout: "banger-vmm:x:999:995::/nonexistent:/usr/sbin/nologin\n" },
        },
        files: {
          "/etc/subuid": "banger-vmm:2000000000:65536\n",
          "/etc/subgid": "banger-vmm:2000000000:65536\n",
        },
      }),
    ),
    "rootless-images",
  );
  assert.equal(root?.status, "pass");
  assert.match(root?.detail ?? "", /root builds as banger-vmm/);
});

test("ip-forward: shows which users' banger networks hold IPv4 forwarding on, and what is restored", async () => {
  const dir = "/run/banger/ip_forward/netns-5-00112233aabbccdd";
  const held = await runChecks(
    ctx({
      files: { "/proc/sys/net/ipv4/ip_forward": "1\n", [`${dir}/original`]: "0\n" },
      runs: {
        "stat -L -c %i /proc/self/ns/net": { stdout: "5\n" },
        "ip -j link show dev lo": { stdout: '[{"ifname":"lo","ifalias":"banger-netns:00112233aabbccdd"}]' },
        [`ls -1 ${dir}`]: { stdout: "original\nuid-1000\nuid-0\n" },
      },
    }),
  );
  assert.equal(byId(held, "ip-forward")?.status, "pass");
  assert.match(
    byId(held, "ip-forward")?.detail ?? "",
    /= 1, set for the banger networks of uid 1000, 0 .*restored to 0/,
  );
  const none = await runChecks(ctx({ files: { "/proc/sys/net/ipv4/ip_forward": "0\n" } }));
  assert.match(byId(none, "ip-forward")?.detail ?? "", /= 0; no banger network needs it/);
});
