import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FakeIpHost } from "../../host/fake/FakeIpHost.js";
import { runnerContext } from "../../host/helper/LocalHelper.js";
import type { HelperContext } from "../context.js";
import { handleLine } from "../main.js";
import { makeSysctlSet } from "./sysctl.js";

const ME = { uid: 1000, gid: 1000, vmmUid: 1000, vmmGid: 1000 };

async function call(ctx: HelperContext, verb: string, args: unknown) {
  return handleLine(ctx, JSON.stringify({ id: 1, verb, args }));
}

function refused(r: Awaited<ReturnType<typeof call>>, code: string, re: RegExp): void {
  assert.equal(r.ok, false, `expected a refusal, got ${JSON.stringify(r)}`);
  if (!r.ok) {
    assert.equal(r.error.code, code, r.error.message);
    assert.match(r.error.message, re);
  }
}

function setup(ids = ME) {
  const host = new FakeIpHost();
  return { host, ctx: runnerContext(host.runner, ids) };
}

describe("bridge.ensure", () => {
  it("creates the caller's bridge with its marker, the gateway address, up", async () => {
    const { host, ctx } = setup();
    const r = await call(ctx, "bridge.ensure", { bridge: "bgr1000", cidr: "172.30.232.0/24" });
    assert.deepEqual(r, { id: 1, ok: true, result: null });
    assert.deepEqual(host.links.get("bgr1000"), {
      kind: "bridge",
      up: true,
      ipv4: ["172.30.232.1/24"],
      alias: "banger:uid=1000",
    });
    host.clear();
    assert.equal((await call(ctx, "bridge.ensure", { bridge: "bgr1000", cidr: "172.30.232.0/24" })).ok, true);
    assert.deepEqual(host.writes(), [], "a ready bridge is left as it is");
  });

  it("refuses a bridge another uid (or not banger) made", async () => {
    const { host, ctx } = setup();
    host.links.set("bgr7", { kind: "bridge", up: true, ipv4: [], alias: "banger:uid=7" });
    host.links.set("bgrx", { kind: "bridge", up: true, ipv4: [] });
    refused(
      await call(ctx, "bridge.ensure", { bridge: "bgr7", cidr: "10.9.0.0/24" }),
      "PERMISSION",
      /uid 1000/,
    );
    refused(await call(ctx, "bridge.ensure", { bridge: "bgrx", cidr: "10.9.0.0/24" }), "PERMISSION", /bgrx/);
    assert.deepEqual(host.writes(), []);
  });

  it("only creates bridges of banger's names, never one another program may expect (docker0, wg0)", async () => {
    const { host, ctx } = setup();
    for (const bridge of ["docker0", "wg0", "eth1", "br0", "bgr.1"]) {
      refused(
        await call(ctx, "bridge.ensure", { bridge, cidr: "10.9.0.0/24" }),
        "INVALID_ARGUMENT",
        /bridge/,
      );
    }
    assert.deepEqual(host.writes(), []);
  });

  it("refuses a subnet that overlaps a foreign route or address", async () => {
    const { host, ctx } = setup();
    host.routes.push({ dst: "10.8.0.0/16", dev: "wg0" });
    host.links.set("bgr7", { kind: "bridge", up: true, ipv4: ["172.30.7.1/24"], alias: "banger:uid=7" });
    refused(
      await call(ctx, "bridge.ensure", { bridge: "bgr1000", cidr: "10.8.3.0/24" }),
      "CONFLICT",
      /10\.8\.3\.0\/24 overlaps the host's route 10\.8\.0\.0\/16 dev wg0/,
    );
    refused(
      await call(ctx, "bridge.ensure", { bridge: "bgr1000", cidr: "172.30.0.0/16" }),
      "CONFLICT",
      /overlaps the host's route 172\.30\.7\.0\/24 dev bgr7/,
    );
    assert.deepEqual(host.writes(), []);
    assert.ok(!host.links.has("bgr1000"));
  });

  it("refuses public, malformed and out-of-range subnets", async () => {
    const { ctx } = setup();
    for (const [cidr, re] of [
      ["8.8.8.0/24", /not a private range/],
      ["172.30.0.0/8", /prefix \/8/],
      ["172.30.0.1/24", /host bits/],
      ["172.30.0.0/24; id", /not an IPv4 CIDR/],
      [42, /not an IPv4 CIDR/],
    ] as const) {
      refused(await call(ctx, "bridge.ensure", { bridge: "bgr1000", cidr }), "INVALID_ARGUMENT", re);
    }
  });
});

describe("tap.create and tap.delete", () => {
  const ready = async (ids = ME) => {
    const s = setup(ids);
    assert.equal(
      (await call(s.ctx, "bridge.ensure", { bridge: "bgr1000", cidr: "172.30.232.0/24" })).ok,
      true,
    );
    s.host.clear();
    return s;
  };

  it("creates a TAP owned by the caller's VMM uid, marked, attached, up and isolated", async () => {
    const { host, ctx } = await ready({ uid: 0, gid: 0, vmmUid: 999, vmmGid: 995 });
    host.links.get("bgr1000")!.alias = "banger:uid=0";
    const r = await call(ctx, "tap.create", { tap: "bgr1000t0", bridge: "bgr1000" });
    assert.deepEqual(r, { id: 1, ok: true, result: { ownerUid: 999 } });
    assert.deepEqual(host.links.get("bgr1000t0"), {
      kind: "tun",
      up: true,
      ipv4: [],
      user: 999,
      alias: "banger:uid=0",
      master: "bgr1000",
      isolated: true,
    });
    assert.equal(host.writes()[0], "ip tuntap add dev bgr1000t0 mode tap user 999 group 995");
  });

  it("refuses another user's TAP: its marker or its owner", async () => {
    const { host, ctx } = await ready();
    host.links.set("bgr1000t3", { kind: "tun", up: true, ipv4: [], user: 7, alias: "banger:uid=7" });
    host.links.set("bgr1000t4", { kind: "tun", up: true, ipv4: [], user: 7, alias: "banger:uid=1000" });
    host.links.set("bgr1000t5", { kind: "tun", up: true, ipv4: [], user: 1000 });
    for (const tap of ["bgr1000t3", "bgr1000t4", "bgr1000t5"]) {
      refused(await call(ctx, "tap.delete", { tap }), "PERMISSION", new RegExp(tap));
      refused(await call(ctx, "tap.create", { tap, bridge: "bgr1000" }), "PERMISSION", new RegExp(tap));
    }
    assert.deepEqual(host.writes(), []);
    assert.deepEqual(host.taps(), ["bgr1000t3", "bgr1000t4", "bgr1000t5"]);
  });

  it("refuses a TAP on a bridge that is not the caller's, and names outside the scheme", async () => {
    const { host, ctx } = await ready();
    host.links.set("bgr7", { kind: "bridge", up: true, ipv4: [], alias: "banger:uid=7" });
    refused(await call(ctx, "tap.create", { tap: "bgr7t0", bridge: "bgr7" }), "PERMISSION", /bgr7/);
    refused(await call(ctx, "tap.create", { tap: "eth0", bridge: "bgr1000" }), "INVALID_ARGUMENT", /scheme/);
    refused(
      await call(ctx, "tap.create", { tap: "bgr7t0", bridge: "bgr1000" }),
      "INVALID_ARGUMENT",
      /scheme/,
    );
    refused(await call(ctx, "tap.delete", { tap: "eth0" }), "INVALID_ARGUMENT", /scheme/);
    assert.deepEqual(host.writes(), []);
  });

  it("refuses names with shell metacharacters or that read as options", async () => {
    const { host, ctx } = await ready();
    for (const bad of ["a;b", "$(x)", "-x", "a b", "`id`", "", "x".repeat(16)]) {
      refused(await call(ctx, "tap.delete", { tap: bad }), "INVALID_ARGUMENT", /not a valid interface name/);
      refused(await call(ctx, "tap.create", { tap: "bgr1000t0", bridge: bad }), "INVALID_ARGUMENT", /bridge/);
      refused(
        await call(ctx, "bridge.ensure", { bridge: bad, cidr: "10.1.0.0/24" }),
        "INVALID_ARGUMENT",
        /bridge/,
      );
    }
    assert.deepEqual(host.writes(), []);
  });

  it("deletes the caller's own TAP; an absent one is fine", async () => {
    const { host, ctx } = await ready();
    assert.equal((await call(ctx, "tap.create", { tap: "bgr1000t0", bridge: "bgr1000" })).ok, true);
    host.clear();
    assert.deepEqual(await call(ctx, "tap.delete", { tap: "bgr1000t0" }), { id: 1, ok: true, result: null });
    assert.deepEqual(host.writes(), ["ip link delete dev bgr1000t0"]);
    assert.equal((await call(ctx, "tap.delete", { tap: "bgr1000t0" })).ok, true);
  });

  it("a TAP that cannot be attached is deleted again", async () => {
    const { host, ctx } = await ready();
    host.fail(["bridge", "link"], () => ({ code: 1, stderr: "boom" }));
    refused(await call(ctx, "tap.create", { tap: "bgr1000t0", bridge: "bgr1000" }), "COMMAND_FAILED", /boom/);
    assert.deepEqual(host.taps(), []);
  });
});

describe("sysctl.set", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "banger-sysctl-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const proc = path.join(dir, "ip_forward");
  const verb = makeSysctlSet({
    markerRoot: path.join(dir, "markers"),
    procFile: proc,
    netnsKey: async () => "netns-1",
  });
  const as = (uid: number) => ({ ...ME, uid, run: runnerContext(new FakeIpHost().runner, ME).run });
  const markers = () => readdirSync(path.join(dir, "markers", "netns-1")).sort();

  it("refuses any other sysctl and any value but 0 and 1", async () => {
    const { ctx } = setup();
    refused(
      await call(ctx, "sysctl.set", { name: "kernel.modprobe", value: 1 }),
      "INVALID_ARGUMENT",
      /only net/,
    );
    refused(
      await call(ctx, "sysctl.set", { name: "net.ipv4.ip_forward", value: 2 }),
      "INVALID_ARGUMENT",
      /0 or 1/,
    );
    refused(
      await call(ctx, "sysctl.set", { name: "net.ipv4.ip_forward", value: "1" }),
      "INVALID_ARGUMENT",
      /0 or 1/,
    );
  });

  it("records each uid, and restores the original only when no uid needs it", async () => {
    writeFileSync(proc, "0\n");
    assert.deepEqual(await verb(as(1000), { name: "net.ipv4.ip_forward", value: 1 }), { previous: "0" });
    assert.deepEqual(await verb(as(1001), { name: "net.ipv4.ip_forward", value: 1 }), { previous: "1" });
    assert.equal(readFileSync(proc, "utf8").trim(), "1");
    assert.deepEqual(markers(), ["original", "uid-1000", "uid-1001"]);
    await verb(as(1000), { name: "net.ipv4.ip_forward", value: 0 });
    assert.equal(readFileSync(proc, "utf8").trim(), "1", "uid 1001 still needs forwarding");
    await verb(as(1001), { name: "net.ipv4.ip_forward", value: 0 });
    assert.equal(readFileSync(proc, "utf8").trim(), "0", "restored to what it was");
    assert.deepEqual(markers(), []);
  });

  it("leaves a setting that was already on as on", async () => {
    writeFileSync(proc, "1\n");
    await verb(as(5), { name: "net.ipv4.ip_forward", value: 1 });
    await verb(as(5), { name: "net.ipv4.ip_forward", value: 0 });
    assert.equal(readFileSync(proc, "utf8").trim(), "1");
  });
});
