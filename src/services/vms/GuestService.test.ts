import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BangerError } from "../../errors/index.js";
import type { ImageCapabilities } from "../../model/image.js";
import { FIXED_TIME, makeImage, makeVm } from "../../store/fake/fixtures.js";
import { MemoryStore } from "../../store/fake/MemoryStore.js";
import { type AgentApi, GuestService } from "./GuestService.js";

/** A store with one running VM of an image with `caps`, and a GuestService whose agent source counts calls. */
function setup(
  caps: ImageCapabilities,
  sshBanner: (ip: string) => Promise<string> = async () => "SSH-2.0-OpenSSH_9.2",
) {
  const store = new MemoryStore();
  const img = store.images.insert(makeImage("img", { capabilities: caps }));
  const vm = store.vms.insert(makeVm("v", img.id));
  store.vms.update(vm.id, {
    state: "running",
    startedAt: FIXED_TIME,
    network: { ip: "172.30.0.9", mac: "02:00:00:00:00:09", tap: "tap0" },
    vmm: { driver: "qemu", pid: 1, controlSocket: "/c", agentSocket: "/a", acceleration: "tcg" },
  });
  let agentCalls = 0;
  const guest = new GuestService({
    store,
    agents: {
      get: async () => {
        agentCalls++;
        return {} as AgentApi;
      },
      drop: () => {},
    },
    sampler: { sample: async () => null, retain: () => {} },
    now: () => new Date(FIXED_TIME.getTime() + 1000),
    capabilitiesOf: async (v) => store.images.getById(v.imageId).capabilities ?? caps,
    sshBanner,
  });
  return { guest, agentCalls: () => agentCalls };
}

describe("GuestService and images without the agent", () => {
  it("exec and ports fail at once with CONFLICT naming the image and what to use; the agent is never asked", async () => {
    const { guest, agentCalls } = setup({ agent: false, sshd: true });
    for (const call of [() => guest.exec("v", ["true"], {}), () => guest.ports("v")]) {
      await assert.rejects(
        call(),
        (e: unknown) =>
          e instanceof BangerError &&
          e.code === "CONFLICT" &&
          /needs banger's guest agent, and VM "v"'s image "img" has none/.test(e.message) &&
          /banger vm ssh v -- CMD/.test(e.hint ?? ""),
      );
    }
    assert.equal(agentCalls(), 0);
  });

  it("health of an sshd-only image is the SSH banner, via ssh, without asking the agent", async () => {
    const asked: string[] = [];
    const { guest, agentCalls } = setup({ agent: false, sshd: true }, async (ip: string) => {
      asked.push(ip);
      return "SSH-2.0-dropbear";
    });
    const h = await guest.health("v");
    assert.equal(h.status, "healthy");
    assert.equal(h.via, "ssh");
    assert.deepEqual(asked, ["172.30.0.9"]);
    assert.equal(agentCalls(), 0);
  });
});
