/**
 * The helper's cgroup verbs on the real cgroup file system (root only): the
 * real helper process, started as if through sudo by a test uid, creates a
 * VM's cgroup with its limits, moves a sleeping "VMM" of that uid in, refuses
 * other processes, and removes the cgroup.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdtemp, readFile, rm, rmdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { cgroupLayout, processCgroupDir } from "../../src/helper/cgroupLayout.js";
import { HelperClient } from "../../src/host/helper/HelperClient.js";
import { repoRoot } from "../helpers/repoRoot.js";

const isRoot = process.getuid?.() === 0;
const helperMain = path.join(repoRoot(), "dist/src/helper/main.js");
const UID = 3_999_000 + (process.pid % 900);
const OTHER = UID + 1;
const VM = `c9${process.pid.toString(16).padStart(14, "0")}`.slice(0, 16);

async function mounts(): Promise<string> {
  return readFile("/proc/self/mounts", "utf8");
}

function sleeper(bin: string, uid: number): ChildProcess {
  return spawn(bin, ["600"], { uid, gid: uid, stdio: "ignore" });
}

describe("cgroup verbs on the real cgroup fs", { skip: isRoot ? false : "needs root" }, () => {
  it("create, limit, attach a VMM of the caller's uid; refuse others; remove", async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "banger-cg-"));
    await chmod(dir, 0o755);
    const fakeQemu = path.join(dir, "qemu-system-test");
    await copyFile("/bin/sleep", fakeQemu);
    await chmod(fakeQemu, 0o755);
    const client = new HelperClient({
      command: ["env", "-i", `SUDO_UID=${UID}`, `SUDO_GID=${UID}`, process.execPath, helperMain],
    });
    const kids: ChildProcess[] = [];
    const layout = cgroupLayout(await mounts(), await readFile("/proc/self/cgroup", "utf8"));
    assert.ok(layout, "a cgroup hierarchy is mounted");
    t.after(async () => {
      for (const k of kids) k.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 200));
      await client.call("cgroup.remove", { vm: VM }).catch(() => undefined);
      client.close();
      for (const base of new Set(Object.values(layout.bases))) {
        await rmdir(path.join(base, "banger", `u${UID}`)).catch(() => undefined);
        await rmdir(path.join(base, "banger")).catch(() => undefined); // only when empty
      }
      await rm(dir, { recursive: true, force: true });
    });

    const limits = { memoryBytes: 300 * 1024 ** 2, pids: 40, cpus: 1 };
    const info = await client.call("cgroup.create", { vm: VM, limits });
    t.diagnostic(`cgroup v${info.version}: ${JSON.stringify(info.paths)}`);
    assert.equal(info.version, layout.version);
    const read = (f: string) => readFile(f, "utf8").then((s) => s.trim());
    if (info.version === 1) {
      assert.equal(await read(`${info.paths.memory}/memory.limit_in_bytes`), String(300 * 1024 ** 2));
      assert.equal(await read(`${info.paths.pids}/pids.max`), "40");
      assert.equal(await read(`${info.paths.cpu}/cpu.cfs_quota_us`), "100000");
      assert.equal(await read(`${info.paths.cpu}/cpu.cfs_period_us`), "100000");
    } else {
      assert.equal(await read(`${info.paths.unified}/memory.max`), String(300 * 1024 ** 2));
      assert.equal(await read(`${info.paths.unified}/cpu.max`), "100000 100000");
    }
    for (const p of Object.values(info.paths)) assert.ok(p.includes(`/banger/u${UID}/${VM}`), p);

    const vmm = sleeper(fakeQemu, UID);
    const stranger = sleeper(fakeQemu, OTHER);
    const plain = sleeper("/bin/sleep", UID);
    kids.push(vmm, stranger, plain);
    await new Promise((r) => setTimeout(r, 300)); // exec done: comm is the new program's
    await client.call("cgroup.attach", { vm: VM, pid: vmm.pid! });
    const cg = await readFile(`/proc/${vmm.pid}/cgroup`, "utf8");
    const ctrl = info.version === 1 ? "memory" : "unified";
    assert.equal(processCgroupDir(await mounts(), cg, ctrl), info.paths[ctrl]);
    if (info.version === 1) assert.equal(processCgroupDir(await mounts(), cg, "pids"), info.paths.pids);

    await assert.rejects(client.call("cgroup.attach", { vm: VM, pid: stranger.pid! }), /not as the VMM uid/);
    await assert.rejects(client.call("cgroup.attach", { vm: VM, pid: plain.pid! }), /"sleep"\) is not a VMM/);
    await assert.rejects(client.call("cgroup.attach", { vm: VM, pid: process.pid }), /not as the VMM uid/);
    assert.ok(!(await readFile(`/proc/${stranger.pid}/cgroup`, "utf8")).includes(VM));

    await assert.rejects(client.call("cgroup.remove", { vm: VM }), /still holds running processes/);
    vmm.kill("SIGKILL");
    await new Promise((r) => vmm.once("exit", r));
    await client.call("cgroup.remove", { vm: VM });
    for (const p of Object.values(info.paths)) assert.ok(!existsSync(p), `${p} removed`);
  });
});
