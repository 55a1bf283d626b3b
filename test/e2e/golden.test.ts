/**
 * End to end, the main job: on a fresh state dir, `banger vm run` with no
 * image given builds the golden debian-bookworm image and its kernel from
 * Debian packages (or reuses the recipe cache under /var/cache/banger-test,
 * keyed by the recipe's hash, so CI stays fast), boots it under QEMU (TCG
 * here) inside a network namespace this test creates, and runs a command
 * over SSH with the pinned host key.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { LocalRecipeRunner } from "../../src/images/recipes/RecipeRunner.js";
import { e2eSkipReason, NsSandbox } from "../helpers/nsSandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
// The same cache the golden-image integration test fills (recipe builds keyed by their hash).
const RECIPE_CACHE = process.env.BANGER_TEST_CACHE || "/var/cache/banger-test";
let t: NsSandbox;

describe("banger vm run on the default image, from a fresh state dir", { skip }, () => {
  before(async () => {
    // The daemon runs in a namespace with no way out; warm the recipe cache from here (Debian mirror).
    const recipes = new LocalRecipeRunner({ runner, cacheDir: RECIPE_CACHE });
    const workDir = mkdtempSync(path.join(os.tmpdir(), "bggold-warm-"));
    try {
      for (const id of ["debian-kernel", "debian-bookworm"]) {
        await recipes.run(id, { workDir, onProgress: () => {}, catalogEntry: {} });
      }
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
    t = await NsSandbox.create("bggold", { BANGER_RECIPE_CACHE: RECIPE_CACHE });
    t.sb.writeConfig(
      ['vmm = "qemu"', "[vm_defaults]", "vcpu = 1", 'memory = "1G"', 'disk_size = "2G"', ""].join("\n"),
    );
  });

  after(async () => {
    await t?.cleanup();
  });

  test("builds (or reuses) debian-bookworm and its kernel, boots it, and SSH runs a command", async () => {
    const r = await t.cli([
      "vm",
      "run",
      "--name",
      "gold",
      "--",
      "sh",
      "-c",
      "cat /etc/debian_version; systemctl is-active banger-agent; id -u",
    ]);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const [version, agent, uid] = r.stdout.trim().split("\n");
    assert.match(version ?? "", /^12\./);
    assert.equal(agent, "active");
    assert.equal(uid, "0");
    assert.match(r.stderr, /pulling debian-bookworm from the image catalog/);
    assert.match(r.stderr, /building it from its recipe/);
    const vm = await t.json<VmView>(["vm", "show", "gold"]);
    assert.equal(vm.state, "running");
    const images = await t.json<{ images: Array<{ name: string }> }>(["image", "list"]);
    assert.deepEqual(
      images.images.map((i) => i.name),
      ["debian-bookworm"],
    );
    const kernels = await t.json<{ kernels: Array<{ name: string; usedBy: string[] }> }>(["kernel", "list"]);
    assert.deepEqual(
      kernels.kernels.map((k) => [k.name, k.usedBy]),
      [["debian-bookworm-kernel", ["debian-bookworm"]]],
    );
    const del = await t.cli(["kernel", "delete", "debian-bookworm-kernel"]);
    assert.notEqual(del.code, 0, "a kernel an image uses cannot be deleted");
    assert.match(del.stderr, /debian-bookworm/);
    const h = await t.json<{ status: string }>(["vm", "health", "gold"]);
    assert.equal(h.status, "healthy");
    await t.ok(["vm", "delete", "--force", "gold"]);
  });
});
