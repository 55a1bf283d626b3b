import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GiB, MiB } from "./sizes.js";
import type { ResolvedConfig } from "./types.js";
import { validateConfig } from "./validate.js";
import { hostResources, resolveVmDefaults } from "./vmDefaults.js";

function config(raw: unknown = null): ResolvedConfig {
  const { config: cfg, problems } = validateConfig(raw, { HOME: "/home/ada" });
  assert.deepEqual(problems, []);
  assert.ok(cfg);
  return cfg;
}

describe("resolveVmDefaults", () => {
  it("[vm_defaults] wins, with source config", () => {
    const cfg = config({ vm_defaults: { vcpu: 3, memory: "3G", disk_size: "20G" } });
    const d = resolveVmDefaults(cfg, { cpus: 64, totalMemBytes: 256 * GiB });
    assert.deepEqual(d.vcpu, { value: 3, source: "config" });
    assert.deepEqual(d.memoryMib, { value: 3072, source: "config" });
    assert.deepEqual(d.diskSizeBytes, { value: 20 * GiB, source: "config" });
  });

  const auto: Array<[string, number, number, number, number]> = [
    // what, cpus, RAM bytes, expected vcpu, expected MiB
    ["a typical laptop", 8, 16 * GiB, 2, 2048],
    ["vcpu capped at 4, memory capped at 8 GiB", 64, 256 * GiB, 4, 8192],
    ["vcpu at least 1, memory at least 512 MiB", 2, 2 * GiB, 1, 512],
    ["one CPU", 1, 4 * GiB, 1, 512],
    ["memory rounded down to whole MiB", 16, 10 * GiB + 7, 4, 1280],
    ["an odd amount of RAM", 12, 15_000 * MiB + 123_456, 3, 1875],
  ];
  for (const [what, cpus, totalMemBytes, vcpu, mib] of auto) {
    it(`host heuristics: ${what}`, () => {
      const d = resolveVmDefaults(config(), { cpus, totalMemBytes });
      assert.deepEqual(d.vcpu, { value: vcpu, source: "auto" });
      assert.deepEqual(d.memoryMib, { value: mib, source: "auto" });
      assert.deepEqual(d.diskSizeBytes, { value: 8 * GiB, source: "builtin" });
    });
  }

  it("built-in constants when the host figures are unknown", () => {
    for (const host of [
      { cpus: 0, totalMemBytes: 0 },
      { cpus: Number.NaN, totalMemBytes: -1 },
    ]) {
      const d = resolveVmDefaults(config(), host);
      assert.deepEqual(d.vcpu, { value: 2, source: "builtin" });
      assert.deepEqual(d.memoryMib, { value: 2048, source: "builtin" });
      assert.deepEqual(d.diskSizeBytes, { value: 8 * GiB, source: "builtin" });
    }
  });

  it("each value is decided on its own", () => {
    const d = resolveVmDefaults(config({ vm_defaults: { memory: 1024 } }), { cpus: 0, totalMemBytes: 0 });
    assert.deepEqual(d.vcpu, { value: 2, source: "builtin" });
    assert.deepEqual(d.memoryMib, { value: 1024, source: "config" });
  });
});

describe("hostResources", () => {
  it("reads the os module given", () => {
    const fake = {
      cpus: () => new Array(6).fill({}) as ReturnType<typeof import("node:os").cpus>,
      totalmem: () => 42,
    };
    assert.deepEqual(hostResources(fake), { cpus: 6, totalMemBytes: 42 });
  });
  it("reads the real host by default", () => {
    const h = hostResources();
    assert.ok(h.cpus >= 0 && h.totalMemBytes > 0);
  });
});
