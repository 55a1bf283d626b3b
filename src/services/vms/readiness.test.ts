import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GuestHealth } from "../../api/agent.js";
import { readinessOf } from "../../model/image.js";
import type { Vm } from "../../model/vm.js";
import { FIXED_TIME, idFor, makeVm } from "../../store/fake/fixtures.js";
import { probeReadiness, type ReadinessProbes } from "./readiness.js";

const GUEST: GuestHealth = {
  uptimeSec: 3,
  load: [0, 0, 0],
  memory: { totalBytes: 1, availableBytes: 1 },
  disks: [],
};

function running(sinceMs: number): Vm {
  const v = makeVm("r", idFor("image:x"));
  return {
    ...v,
    cid: 3,
    state: "running",
    startedAt: new Date(FIXED_TIME.getTime() - sinceMs),
    network: { ip: "172.30.0.5", mac: "02:00:00:00:00:05", tap: "tap0" },
  } as Vm;
}

/** Probes that record what was asked and answer or fail as told. */
function probes(agentOk: boolean, sshOk: boolean) {
  const asked: string[] = [];
  const p: ReadinessProbes = {
    agent: async () => {
      asked.push("agent");
      if (!agentOk) throw new Error("no agent");
      return GUEST;
    },
    sshBanner: async (ip) => {
      asked.push(`ssh ${ip}`);
      if (!sshOk) throw new Error("connection refused");
      return "SSH-2.0-dropbear_2022.83";
    },
  };
  return { p, asked };
}

const opts = (sinceMs = 1000) => ({ now: FIXED_TIME, graceMs: 60_000, vm: running(sinceMs) });

describe("the readiness rule", () => {
  it("is the agent when the image has it, else SSH, else started", () => {
    assert.equal(readinessOf({ agent: true, sshd: true }), "agent");
    assert.equal(readinessOf({ agent: true, sshd: false }), "agent");
    assert.equal(readinessOf({ agent: false, sshd: true }), "ssh");
    assert.equal(readinessOf({ agent: false, sshd: false }), "started");
  });

  it("an image with the agent: healthy only when the agent answers; SSH is not asked", async () => {
    const o = opts();
    const { p, asked } = probes(true, false);
    const r = await probeReadiness(o.vm, { agent: true, sshd: true }, p, o);
    assert.equal(r.status, "healthy");
    assert.equal(r.via, "agent");
    assert.deepEqual(r.guest, GUEST);
    assert.deepEqual(asked, ["agent"]);
  });

  it("an image with only an sshd: the agent is never waited for; the SSH banner decides", async () => {
    const o = opts();
    const ok = probes(true, true);
    const r = await probeReadiness(o.vm, { agent: false, sshd: true }, ok.p, o);
    assert.equal(r.status, "healthy");
    assert.equal(r.via, "ssh");
    assert.match(r.reason, /sshd answered on port 22 \(SSH-2\.0-dropbear/);
    assert.deepEqual(ok.asked, ["ssh 172.30.0.5"]);
    const down = probes(true, false);
    const booting = await probeReadiness(o.vm, { agent: false, sshd: true }, down.p, o);
    assert.equal(booting.status, "starting");
    assert.match(booting.reason, /sshd \(port 22\) has not answered yet \(1 s since start\)/);
    const late = opts(120_000);
    const gone = await probeReadiness(late.vm, { agent: false, sshd: true }, down.p, late);
    assert.equal(gone.status, "unreachable");
    assert.match(gone.reason, /sshd \(port 22\) does not answer: connection refused/);
  });

  it("an image with neither: ready as soon as the VMM runs, nothing probed", async () => {
    const o = opts();
    const { p, asked } = probes(false, false);
    const r = await probeReadiness(o.vm, { agent: false, sshd: false }, p, o);
    assert.equal(r.status, "healthy");
    assert.equal(r.via, "started");
    assert.match(r.reason, /neither banger's agent nor an sshd/);
    assert.deepEqual(asked, []);
  });
});
