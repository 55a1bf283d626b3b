import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { AgentClient } from "./AgentClient.js";
import { AgentPool } from "./AgentPool.js";
import { FakeAgent } from "./FakeAgent.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "banger-agent-pool-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("AgentPool", () => {
  it("keeps one client per VM, shares concurrent connects, reconnects after a drop", async () => {
    const socketPath = path.join(dir, "vm1.sock");
    const agent = await FakeAgent.start({ socketPath });
    let connects = 0;
    const pool = new AgentPool({
      connect: (h, o) => {
        connects++;
        return AgentClient.connect(h, o);
      },
    });
    const handle = { driver: "qemu" as const, agentSocket: socketPath };
    try {
      const [a, b] = await Promise.all([pool.get("vm1", handle), pool.get("vm1", handle)]);
      assert.equal(a, b);
      assert.equal(await pool.get("vm1", handle), a);
      assert.equal(connects, 1);
      assert.equal(agent.connections, 1);

      agent.dropConnections();
      await assert.rejects(a.ping());
      const c = await pool.get("vm1", handle);
      assert.notEqual(c, a);
      assert.equal(await c.ping(), "1");
      assert.equal(connects, 2);

      pool.drop("vm1");
      assert.equal(pool.size, 0);
      await new Promise((r) => setImmediate(r));
      assert.equal(c.closed, true);
    } finally {
      pool.closeAll();
      await agent.stop();
    }
  });

  it("a new agent socket for the VM (restarted elsewhere) replaces the old client", async () => {
    const one = await FakeAgent.start({ socketPath: path.join(dir, "one.sock") });
    const two = await FakeAgent.start({ socketPath: path.join(dir, "two.sock") });
    const pool = new AgentPool();
    try {
      const a = await pool.get("vm", { driver: "qemu", agentSocket: path.join(dir, "one.sock") });
      const b = await pool.get("vm", { driver: "qemu", agentSocket: path.join(dir, "two.sock") });
      assert.notEqual(a, b);
      await new Promise((r) => setImmediate(r));
      assert.equal(a.closed, true);
      assert.equal(await b.ping(), "1");
    } finally {
      pool.closeAll();
      await one.stop();
      await two.stop();
    }
  });

  it("a failed connect is not cached; closeAll closes every client", async () => {
    const socketPath = path.join(dir, "late.sock");
    const pool = new AgentPool();
    const handle = { driver: "qemu" as const, agentSocket: socketPath };
    await assert.rejects(pool.get("late", handle), /not running/);
    assert.equal(pool.size, 0);
    const agent = await FakeAgent.start({ socketPath });
    try {
      const c = await pool.get("late", handle);
      assert.equal(await c.ping(), "1");
      pool.closeAll();
      await new Promise((r) => setImmediate(r));
      assert.equal(c.closed, true);
      assert.equal(pool.size, 0);
    } finally {
      await agent.stop();
    }
  });
});
