import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import { GiB } from "./sizes.js";
import type { ConfigProblem } from "./types.js";
import { validateConfig } from "./validate.js";

const ENV = { HOME: "/home/ada" };

function validateToml(text: string, env: Record<string, string> = ENV) {
  return validateConfig(parse(text), env);
}

function problemsOf(text: string, env?: Record<string, string>): ConfigProblem[] {
  const r = validateToml(text, env);
  assert.equal(r.config, null, "a config with problems must not resolve");
  return r.problems;
}

describe("validateConfig: defaults", () => {
  for (const raw of [null, undefined, {}]) {
    it(`resolves every default from ${JSON.stringify(raw)}`, () => {
      const { config, problems } = validateConfig(raw, ENV);
      assert.deepEqual(problems, []);
      assert.ok(config);
      assert.equal(config.file, null);
      assert.deepEqual(config.log_level, { value: "info", source: "default" });
      assert.deepEqual(config.vmm, { value: "auto", source: "default" });
      assert.deepEqual(config.firecracker_bin, { value: null, source: "default" });
      assert.deepEqual(config.qemu_bin, { value: null, source: "default" });
      assert.deepEqual(config.ssh_key_path, { value: null, source: "default" });
      assert.deepEqual(config.default_image_name, { value: "debian-bookworm", source: "default" });
      assert.deepEqual(config.stats_poll_interval, { value: 5000, source: "default" });
      assert.deepEqual(config.image_catalog_url, { value: null, source: "default" });
      assert.deepEqual(config.kernel_catalog_url, { value: null, source: "default" });
      const uid = process.getuid?.() ?? 0;
      assert.deepEqual(config.network.bridge, { value: `bgr${uid}`, source: "default" });
      assert.deepEqual(config.network.subnet, { value: `172.30.${uid % 256}.0/24`, source: "default" });
      assert.deepEqual(config.network.nat, { value: false, source: "default" });
      assert.deepEqual(config.network.tap_pool_size, { value: 2, source: "default" });
      assert.deepEqual(config.dns.listen, { value: "127.0.0.1:42069", source: "default" });
      assert.deepEqual(config.vm_defaults.vcpu, { value: null, source: "default" });
      assert.deepEqual(config.vm_defaults.memory, { value: null, source: "default" });
      assert.deepEqual(config.vm_defaults.disk_size, { value: null, source: "default" });
      assert.deepEqual(config.file_sync, { value: [], source: "default" });
    });
  }
});

const FULL = `
log_level = "debug"
vmm = "qemu"
firecracker_bin = "~/bin/firecracker"
qemu_bin = "/usr/bin/qemu-system-x86_64"
ssh_key_path = "~/.ssh/id_ed25519"
default_image_name = "alpine-3.20"
stats_poll_interval = "1m30s"
image_catalog_url = "https://example.org/images.json"
kernel_catalog_url = "file:///srv/kernels.json"

[network]
bridge = "br-dev"
subnet = "10.99.0.0/16"
nat = true
tap_pool_size = 0

[dns]
listen = "127.0.0.53:5353"

[vm_defaults]
vcpu = 4
memory = "2GiB"
disk_size = 20480

[[file_sync]]
host = "~/.gitconfig"
guest = "~/.gitconfig"
mode = "0644"

[[file_sync]]
host = "/etc/hosts"
guest = "/root/etc/hosts/"
mode = "755"

[[file_sync]]
host = "~/.config/nvim"
guest = "/root/.config//nvim"
`;

describe("validateConfig: a full valid config", () => {
  it("resolves every key with source config", () => {
    const { config, problems } = validateToml(FULL);
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.deepEqual(config.log_level, { value: "debug", source: "config" });
    assert.deepEqual(config.vmm, { value: "qemu", source: "config" });
    assert.equal(config.firecracker_bin.value, "/home/ada/bin/firecracker");
    assert.equal(config.qemu_bin.value, "/usr/bin/qemu-system-x86_64");
    assert.equal(config.ssh_key_path.value, "/home/ada/.ssh/id_ed25519");
    assert.equal(config.default_image_name.value, "alpine-3.20");
    assert.deepEqual(config.stats_poll_interval, { value: 90_000, source: "config" });
    assert.equal(config.image_catalog_url.value, "https://example.org/images.json");
    assert.equal(config.kernel_catalog_url.value, "file:///srv/kernels.json");
    assert.equal(config.network.bridge.value, "br-dev");
    assert.equal(config.network.subnet.value, "10.99.0.0/16");
    assert.deepEqual(config.network.nat, { value: true, source: "config" });
    assert.equal(config.network.tap_pool_size.value, 0);
    assert.equal(config.dns.listen.value, "127.0.0.53:5353");
    assert.deepEqual(config.vm_defaults.vcpu, { value: 4, source: "config" });
    assert.deepEqual(config.vm_defaults.memory, { value: 2048, source: "config" });
    assert.deepEqual(config.vm_defaults.disk_size, { value: 20 * GiB, source: "config" });
    assert.deepEqual(config.file_sync, {
      source: "config",
      value: [
        { host: "/home/ada/.gitconfig", guest: "/root/.gitconfig", mode: 0o644 },
        { host: "/etc/hosts", guest: "/root/etc/hosts", mode: 0o755 },
        { host: "/home/ada/.config/nvim", guest: "/root/.config/nvim", mode: null },
      ],
    });
  });

  it("accepts stats_poll_interval as seconds and memory as MiB", () => {
    const { config } = validateToml("stats_poll_interval = 10\n[vm_defaults]\nmemory = 512");
    assert.equal(config?.stats_poll_interval.value, 10_000);
    assert.equal(config?.vm_defaults.memory.value, 512);
  });
});

describe("validateConfig: environment overrides", () => {
  it("BANGER_LOG_LEVEL and BANGER_VMM win over the file, with source env", () => {
    const env = { ...ENV, BANGER_LOG_LEVEL: "trace", BANGER_VMM: "firecracker" };
    const { config } = validateToml('log_level = "warn"\nvmm = "qemu"', env);
    assert.deepEqual(config?.log_level, { value: "trace", source: "env" });
    assert.deepEqual(config?.vmm, { value: "firecracker", source: "env" });
  });
  it("an empty variable is ignored", () => {
    const { config } = validateConfig(null, { ...ENV, BANGER_VMM: "" });
    assert.deepEqual(config?.vmm, { value: "auto", source: "default" });
  });
  it("an invalid variable is a problem named after the variable", () => {
    const problems = problemsOf("", { ...ENV, BANGER_VMM: "kvm", BANGER_LOG_LEVEL: "debg" });
    assert.deepEqual(
      problems.map((p) => p.path),
      ["BANGER_LOG_LEVEL (env)", "BANGER_VMM (env)"],
    );
    assert.match(problems[0]?.message ?? "", /did you mean "debug"\?/);
    assert.match(problems[1]?.message ?? "", /expected one of "auto", "firecracker", "qemu", got "kvm"/);
  });
});

describe("validateConfig: every problem at once", () => {
  it("reports problems from every table in one pass", () => {
    const problems = problemsOf(`
log_levl = "info"
vmm = "kvm"
[network]
brige = "x"
subnet = "10.0.0.1/24"
[vm_defaults]
memory = "1M"
[[file_sync]]
host = "~/ok"
guest = "/etc/passwd"
[[file_sync]]
host = "rel"
guest = "~/b"
mode = "999"
`);
    assert.deepEqual(problems.map((p) => p.path).sort(), [
      "file_sync[0].guest",
      "file_sync[1].host",
      "file_sync[1].mode",
      "log_levl",
      "network.brige",
      "network.subnet",
      "vm_defaults.memory",
      "vmm",
    ]);
  });
});
