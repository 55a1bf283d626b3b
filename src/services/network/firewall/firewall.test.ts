import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FirewallSpec } from "../../../helper/protocol.js";
import { FakeHelper } from "../../../host/helper/FakeHelper.js";
import type { Vm } from "../../../model/vm.js";
import { defaultEgress, domainAllowed, egressForCreate, formatEgress, parseEgress } from "./egress.js";
import { FirewallService } from "./FirewallService.js";

describe("egress policies", () => {
  it("parses and formats", () => {
    assert.deepEqual(parseEgress("none", "--egress"), { mode: "none", domains: [] });
    assert.deepEqual(parseEgress("allow=PyPI.org.,*.example.com,pypi.org", "--egress"), {
      mode: "allow",
      domains: ["pypi.org", "*.example.com"],
    });
    assert.equal(formatEgress({ mode: "allow", domains: ["a.com", "*.b.org"] }), "allow=a.com,*.b.org");
  });

  it("refuses bad input, naming the field and the fix", () => {
    assert.throws(() => parseEgress("open", "--egress"), /--egress: "open" is not an egress policy/);
    assert.throws(() => parseEgress("allow=", "--egress"), /"allow=" names no domain/);
    assert.throws(() => parseEgress("allow=local", "--egress"), /"local" is not a domain name/);
    assert.throws(() => parseEgress("allow=a.*.com", "--egress"), /is not a domain name/);
    assert.throws(
      () => egressForCreate({ egress: "public" }, { fallback: { mode: "none", domains: [] }, nat: false }),
      (e: Error & { hint?: string }) => /needs NAT/.test(e.message) && /nat = true/.test(e.hint ?? ""),
    );
    assert.throws(() => defaultEgress("allow=a.com", false), /\[network\] egress: egress "allow" needs NAT/);
    assert.throws(() =>
      egressForCreate({ peers: ["Bad_Name"] }, { fallback: { mode: "none", domains: [] }, nat: true }),
    );
  });

  it("defaults to public with nat and none without", () => {
    assert.equal(defaultEgress(null, true).mode, "public");
    assert.equal(defaultEgress(null, false).mode, "none");
    assert.equal(defaultEgress("none", true).mode, "none");
  });

  it("matches allowed names exactly, `*.` for subdomains only", () => {
    const d = ["pypi.org", "*.example.com"];
    assert.ok(domainAllowed(d, "PyPI.org."));
    assert.ok(domainAllowed(d, "a.b.example.com"));
    assert.ok(!domainAllowed(d, "example.com"));
    assert.ok(!domainAllowed(d, "evilexample.com"));
    assert.ok(!domainAllowed(d, "files.pypi.org"));
  });
});

function vm(name: string, ip: string, tap: string | null, egress?: Vm["egress"]): Vm {
  return {
    id: `${name}00000000000`.slice(0, 16),
    name,
    state: tap ? "running" : "stopped",
    network: { ip, mac: `06:00:00:00:00:${ip.split(".")[3]?.padStart(2, "0")}`, tap },
    ...(egress ? { egress } : {}),
  } as unknown as Vm;
}

/** The spec of a recorded firewall.apply call. */
function applied(call: { args: unknown } | undefined): FirewallSpec {
  assert.ok(call, "a firewall.apply call");
  return (call.args as { spec: FirewallSpec }).spec;
}

function service(vms: Vm[], nat = true) {
  const helper = new FakeHelper();
  let resolverStarts = 0;
  let t = 1_000_000;
  const fw = new FirewallService({
    helper,
    store: { vms: { list: () => ({ items: vms, problems: [] }) } } as never,
    bridge: "banger0",
    subnet: "172.30.0.0/24",
    gateway: "172.30.0.1",
    nat,
    dnsPort: 42053,
    defaultEgress: { mode: nat ? "public" : "none", domains: [] },
    ensureResolver: async () => {
      resolverStarts++;
    },
    log: { info: () => undefined, warn: () => undefined },
    now: () => t,
  });
  return { helper, fw, resolverStarts: () => resolverStarts, advance: (ms: number) => (t += ms) };
}

describe("FirewallService", () => {
  const a = vm("a", "172.30.0.2", "banger0t0", { mode: "allow", domains: ["x.com"], peers: ["b"] });
  const b = vm("b", "172.30.0.3", "banger0t1");
  const c = vm("c", "172.30.0.4", null);

  it("builds the spec from VMs holding a TAP, peers as addresses, default policy for old rows", async () => {
    const { helper, fw, resolverStarts } = service([a, b, c]);
    await fw.sync();
    const spec = helper.calls.find((x) => x.verb === "firewall.apply")?.args as { spec: FirewallSpec };
    assert.deepEqual(
      spec.spec.vms.map((v) => [v.tap, v.ip, v.egress, v.peers]),
      [
        ["banger0t0", "172.30.0.2", "allow", ["172.30.0.3"]],
        ["banger0t1", "172.30.0.3", "public", []],
      ],
    );
    assert.equal(spec.spec.dnsPort, 42053);
    assert.equal(resolverStarts(), 1);
    assert.deepEqual(helper.verbs(), ["firewall.apply", "sysctl.set"]);
  });

  it("keeps answered addresses across re-applies until they expire; excludes a releasing VM", async () => {
    const { helper, fw, advance } = service([a, b]);
    await fw.allow("172.30.0.2", [{ ip: "203.0.113.5", ttlS: 5 }]);
    assert.deepEqual(helper.calls[0], {
      verb: "firewall.allow",
      args: { vmIp: "172.30.0.2", add: [{ ip: "203.0.113.5", ttlS: 60 }] },
    });
    advance(30_000);
    await fw.sync(b.id);
    const spec = applied(helper.calls.at(-2));
    assert.deepEqual(
      spec.vms.map((v) => v.ip),
      ["172.30.0.2"],
    );
    assert.deepEqual(spec.vms[0]?.allowed, [{ ip: "203.0.113.5", ttlS: 30 }]);
    advance(31_000);
    await fw.sync();
    const later = applied(helper.calls.filter((x) => x.verb === "firewall.apply").at(-1));
    assert.deepEqual(later.vms[0]?.allowed, []);
  });

  it("after a restart, keeps the answered addresses the kernel still holds", async () => {
    const { helper, fw } = service([a]);
    helper.handlers["firewall.status"] = () => ({
      loaded: true,
      vms: [
        {
          ip: "172.30.0.2",
          dropped: { packets: 0, bytes: 0 },
          spoofDropped: { packets: 0, bytes: 0 },
          allowed: [{ ip: "203.0.113.9", expiresS: 42 }],
        },
      ],
      host: { forwardDropChains: [], bridgeNfCallIptables: null, ipForward: true, nftAvailable: true },
    });
    await fw.seedFromKernel();
    await fw.sync();
    const spec = applied(helper.calls.find((x) => x.verb === "firewall.apply"));
    assert.deepEqual(spec.vms[0]?.allowed, [{ ip: "203.0.113.9", ttlS: 42 }]);
  });

  it("removes the tables when no VM holds a TAP (also stale ones after a restart)", async () => {
    const { helper, fw } = service([c]);
    await fw.sync();
    await fw.sync();
    assert.deepEqual(helper.verbs(), ["firewall.remove"]);
  });

  it("a helper without sysctl.set does not fail the start", async () => {
    const { helper, fw } = service([b]);
    helper.failNext.set("sysctl.set", new Error('unknown verb "sysctl.set"'));
    await fw.sync();
    assert.deepEqual(helper.verbs(), ["firewall.apply", "sysctl.set"]);
  });

  it("a failed apply fails the sync (the VM must not boot without its policy)", async () => {
    const { helper, fw } = service([b]);
    helper.failNext.set("firewall.apply", new Error("nft: no"));
    await assert.rejects(fw.sync(), /nft: no/);
    await fw.sync();
  });
});
