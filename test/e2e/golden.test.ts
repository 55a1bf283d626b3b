/**
 * End to end, the main job: on a fresh state dir, `banger vm run` with no
 * image given builds the golden debian-bookworm image and its kernel from
 * Debian packages (or reuses the recipe cache under /var/cache/banger-test,
 * keyed by the recipe's hash, so CI stays fast), boots it under QEMU (TCG
 * here) inside a network namespace this test creates, and runs a command
 * over SSH with the pinned host key.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { LocalRecipeRunner } from "../../src/images/recipes/RecipeRunner.js";
import { isAlive, Sandbox, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const isRoot = process.getuid?.() === 0;
const hasQemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].some((p) =>
  existsSync(p),
);
const skip = !isRoot
  ? "needs root (network namespaces, mmdebstrap)"
  : !hasQemu
    ? "needs qemu-system-x86_64"
    : false;
const NS = `bggold-${process.pid}-${randomBytes(2).toString("hex")}`;
// The same cache the golden-image integration test fills (recipe builds keyed by their hash).
const RECIPE_CACHE = process.env.BANGER_TEST_CACHE || "/var/cache/banger-test";
let sb: Sandbox;

function sandboxProcesses(): number[] {
  return readdirSync("/proc")
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((pid) => {
      try {
        return pid !== process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(sb.dir);
      } catch {
        return false;
      }
    });
}

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
    await runner.run(["ip", "netns", "add", NS]);
    await runner.run(["ip", "-n", NS, "link", "set", "lo", "up"]);
    sb = new Sandbox({ BANGER_RECIPE_CACHE: RECIPE_CACHE });
    sb.wrap = ["ip", "netns", "exec", NS];
    sb.writeConfig(
      ['vmm = "qemu"', "[vm_defaults]", "vcpu = 1", 'memory = "1G"', 'disk_size = "2G"', ""].join("\n"),
    );
  });

  after(async () => {
    if (!sb) return;
    await sb.cli(["daemon", "stop"]).catch(() => undefined);
    for (const pid of sandboxProcesses()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitDead(pid);
    }
    await runner.run(["ip", "netns", "del", NS], { allowFailure: true });
    await sb.cleanup();
  });

  test("builds (or reuses) debian-bookworm and its kernel, boots it, and SSH runs a command", async () => {
    const r = await sb.cli([
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
    assert.match(r.stderr, /building it from its recipe|recipe/);
    const vm = JSON.parse((await sb.cli(["vm", "show", "gold", "--json"])).stdout) as VmView;
    assert.equal(vm.state, "running");
    const images = JSON.parse((await sb.cli(["image", "list", "--json"])).stdout) as {
      images: Array<{ name: string }>;
    };
    assert.deepEqual(
      images.images.map((i) => i.name),
      ["debian-bookworm"],
    );
    const kernels = JSON.parse((await sb.cli(["kernel", "list", "--json"])).stdout) as {
      kernels: Array<{ name: string; usedBy: string[] }>;
    };
    assert.deepEqual(
      kernels.kernels.map((k) => [k.name, k.usedBy]),
      [["debian-bookworm-kernel", ["debian-bookworm"]]],
    );
    const del = await sb.cli(["kernel", "delete", "debian-bookworm-kernel"]);
    assert.notEqual(del.code, 0, "a kernel an image uses cannot be deleted");
    assert.match(del.stderr, /debian-bookworm/);
    const h = JSON.parse((await sb.cli(["vm", "health", "gold", "--json"])).stdout) as { status: string };
    assert.equal(h.status, "healthy");
    assert.equal((await sb.cli(["vm", "delete", "--force", "gold"])).code, 0);
  });
});
