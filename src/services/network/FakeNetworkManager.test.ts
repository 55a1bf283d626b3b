import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../../errors/index.js";
import { FakeNetworkManager } from "./FakeNetworkManager.js";

test("the fake records calls, names TAPs like the real scheme and keeps a pool", async () => {
  const net = new FakeNetworkManager({ poolSize: 1 });
  await net.ensureReady();
  assert.deepEqual(net.pool, ["banger0t0"]);
  const a = await net.acquireTap();
  const b = await net.acquireTap();
  assert.deepEqual([a, b], ["banger0t0", "banger0t1"]);
  assert.deepEqual(net.pool, ["banger0t2"]);
  await net.releaseTap(a);
  await net.releaseTap("unknown");
  assert.deepEqual(net.deleted, ["banger0t0"]);
  assert.deepEqual(net.methods(), ["ensureReady", "acquireTap", "acquireTap", "releaseTap", "releaseTap"]);
  assert.deepEqual(net.calls[3], { method: "releaseTap", args: ["banger0t0"] });
  assert.equal(net.subnet.gateway, "172.30.0.1");
});

test("the fake's reconcile reclaims orphans before topping up and keeps in-use TAPs", async () => {
  const net = new FakeNetworkManager({ poolSize: 1 });
  for (const t of ["banger0t0", "banger0t1", "banger0t2"]) net.orphans.add(t);
  assert.deepEqual(await net.reconcile(new Set(["banger0t1"])), ["banger0t0", "banger0t2"]);
  assert.deepEqual(net.pool, ["banger0t0"]);
  assert.deepEqual(net.deleted, ["banger0t2"]);
  assert.ok(net.leased.has("banger0t1"));
  assert.equal(await net.acquireTap(), "banger0t0");
  assert.deepEqual(net.pool, ["banger0t2"], "the lowest free name is reused");
});

test("the fake fails on demand, once per queued error, and refuses work after close", async () => {
  const net = new FakeNetworkManager({ nat: true });
  net.failNext("acquireTap").failNext("acquireTap", new Error("second"));
  await assert.rejects(
    net.acquireTap(),
    (e: unknown) => e instanceof BangerError && e.code === "COMMAND_FAILED",
  );
  await assert.rejects(net.acquireTap(), /second/);
  assert.equal(await net.acquireTap(), "banger0t0");
  assert.ok(net.natActive);
  assert.deepEqual((await net.status()).pool, ["banger0t1", "banger0t2"]);
  await net.close();
  assert.ok(!net.natActive);
  await assert.rejects(net.ensureReady(), /closed/);
});
