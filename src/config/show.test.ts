import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import { configShowRows } from "./show.js";
import type { ResolvedConfig } from "./types.js";
import { validateConfig } from "./validate.js";
import { resolveVmDefaults } from "./vmDefaults.js";

function config(toml: string, env: Record<string, string> = {}): ResolvedConfig {
  const { config: cfg, problems } = validateConfig(parse(toml), { HOME: "/home/ada", ...env });
  assert.deepEqual(problems, []);
  assert.ok(cfg);
  return cfg;
}

function byKey(rows: ReturnType<typeof configShowRows>) {
  return Object.fromEntries(rows.map((r) => [r.key, { value: r.value, source: r.source }]));
}

describe("configShowRows", () => {
  it("lists every key once, in order", () => {
    const keys = configShowRows(config("")).map((r) => r.key);
    assert.deepEqual(keys, [
      "log_level",
      "vmm",
      "firecracker_bin",
      "qemu_bin",
      "ssh_key_path",
      "default_image_name",
      "stats_poll_interval",
      "image_catalog_url",
      "kernel_catalog_url",
      "network.bridge",
      "network.subnet",
      "network.nat",
      "network.tap_pool_size",
      "network.egress",
      "network.guest_dns_port",
      "network.upstream_dns",
      "dns.listen",
      "vm_defaults.vcpu",
      "vm_defaults.memory",
      "vm_defaults.disk_size",
      "logs.max_size",
      "logs.keep",
      "pool.size",
      "auto_suspend_after",
      "file_sync",
    ]);
  });

  it("shows defaults, with null for unset values", () => {
    const rows = byKey(configShowRows(config("")));
    assert.deepEqual(rows.stats_poll_interval, { value: "5s", source: "default" });
    assert.deepEqual(rows.firecracker_bin, { value: null, source: "default" });
    assert.deepEqual(rows["vm_defaults.memory"], { value: null, source: "default" });
    assert.deepEqual(rows.file_sync, { value: [], source: "default" });
    assert.deepEqual(rows["network.nat"], { value: false, source: "default" });
  });

  it("shows values in user-facing form with their sources", () => {
    const cfg = config(
      `stats_poll_interval = 90
[vm_defaults]
memory = 1536
disk_size = "16G"
[[file_sync]]
host = "~/.gitconfig"
guest = "~/.gitconfig"
mode = "600"
`,
      { BANGER_VMM: "qemu" },
    );
    const rows = byKey(configShowRows(cfg));
    assert.deepEqual(rows.vmm, { value: "qemu", source: "env" });
    assert.deepEqual(rows.stats_poll_interval, { value: "1m30s", source: "config" });
    assert.deepEqual(rows["vm_defaults.memory"], { value: "1.5G", source: "config" });
    assert.deepEqual(rows["vm_defaults.disk_size"], { value: "16G", source: "config" });
    assert.deepEqual(rows.file_sync, {
      value: [{ host: "/home/ada/.gitconfig", guest: "/root/.gitconfig", mode: "0600" }],
      source: "config",
    });
  });

  it("shows the resolved VM defaults when given", () => {
    const cfg = config("");
    const rows = byKey(
      configShowRows(cfg, resolveVmDefaults(cfg, { cpus: 8, totalMemBytes: 16 * 1024 ** 3 })),
    );
    assert.deepEqual(rows["vm_defaults.vcpu"], { value: 2, source: "auto" });
    assert.deepEqual(rows["vm_defaults.memory"], { value: "2G", source: "auto" });
    assert.deepEqual(rows["vm_defaults.disk_size"], { value: "8G", source: "builtin" });
  });

  it("shows the log caps: the real defaults, or what the file sets", () => {
    const d = byKey(configShowRows(config("")));
    assert.deepEqual(d["logs.max_size"], { value: "4M", source: "default" });
    assert.deepEqual(d["logs.keep"], { value: 2, source: "default" });
    const set = byKey(configShowRows(config('[logs]\nmax_size = "512K"\nkeep = 5')));
    assert.deepEqual(set["logs.max_size"], { value: "512K", source: "config" });
    assert.deepEqual(set["logs.keep"], { value: 5, source: "config" });
  });
});
