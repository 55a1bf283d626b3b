import assert from "node:assert/strict";
import dgram from "node:dgram";
import { after, before, describe, it } from "node:test";
import dnsPacket from "dns-packet";
import { decide, type GuestPolicy, GuestResolver, resolvConfUpstreams } from "./GuestResolver.js";
import { VmRecords } from "./records.js";

describe("guest DNS policy decisions", () => {
  const allow: GuestPolicy = { mode: "allow", domains: ["ok.test", "*.cdn.test"] };
  it("answers .vm names in every mode, refuses non-VMs", () => {
    for (const mode of ["none", "public", "allow"] as const) {
      assert.equal(decide("web.vm", { mode, domains: [] }), "local");
    }
    assert.equal(decide("example.com", undefined), "refused");
  });
  it("none: NXDOMAIN; public: forward; allow: only listed names", () => {
    assert.equal(decide("example.com", { mode: "none", domains: [] }), "nxdomain");
    assert.equal(decide("example.com", { mode: "public", domains: [] }), "forward");
    assert.equal(decide("OK.test.", allow), "forward");
    assert.equal(decide("a.cdn.test", allow), "forward");
    assert.equal(decide("other.test", allow), "nxdomain");
  });
  it("reads nameservers from resolv.conf", () => {
    assert.deepEqual(resolvConfUpstreams("# x\nnameserver 192.0.2.53\nnameserver ::1\nsearch lan\n"), [
      { host: "192.0.2.53", port: 53 },
    ]);
  });
});

describe("GuestResolver with a fake upstream", () => {
  const upstream = dgram.createSocket("udp4");
  let upPort = 0;
  const asked: string[] = [];
  const allowed: Array<{ vmIp: string; add: unknown }> = [];
  const records = new VmRecords();
  records.set("peer", "172.30.0.9");
  const policies = new Map<string, GuestPolicy>([
    ["10.0.0.2", { mode: "allow", domains: ["ok.test"] }],
    ["10.0.0.3", { mode: "none", domains: [] }],
    ["10.0.0.4", { mode: "public", domains: [] }],
  ]);
  const r = new GuestResolver({
    records,
    policyFor: (ip) => policies.get(ip),
    upstreams: () => [{ host: "127.0.0.1", port: upPort }],
    allow: async (vmIp, add) => {
      allowed.push({ vmIp, add });
    },
  });

  before(async () => {
    upstream.on("message", (m, rinfo) => {
      const q = dnsPacket.decode(m);
      const name = q.questions?.[0]?.name ?? "";
      asked.push(name);
      const res = dnsPacket.encode({
        type: "response",
        id: q.id ?? 0,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
        answers: [{ type: "A", name, ttl: 5, data: "203.0.113.7" }],
      });
      upstream.send(res, rinfo.port, rinfo.address);
    });
    await new Promise<void>((res) => upstream.bind(0, "127.0.0.1", () => res()));
    upPort = upstream.address().port;
  });
  after(() => upstream.close());

  const query = (name: string) =>
    dnsPacket.encode({
      type: "query",
      id: 77,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name }],
    });
  const ask = async (src: string, name: string) => {
    const out = await r.answer(query(name), src, "udp");
    return out ? (dnsPacket.decode(out) as ReturnType<typeof dnsPacket.decode> & { rcode?: string }) : null;
  };

  it("allow: an allowed name is forwarded and its addresses allowed (TTL >= 60) before the answer", async () => {
    const res = await ask("10.0.0.2", "ok.test");
    assert.equal(res?.rcode, "NOERROR");
    assert.deepEqual(allowed, [{ vmIp: "10.0.0.2", add: [{ ip: "203.0.113.7", ttlS: 60 }] }]);
    assert.deepEqual(asked, ["ok.test"]);
  });

  it("allow: any other name is NXDOMAIN and never reaches upstream", async () => {
    const res = await ask("10.0.0.2", "evil.test");
    assert.equal(res?.rcode, "NXDOMAIN");
    assert.equal(res?.id, 77);
    assert.deepEqual(asked, ["ok.test"]);
  });

  it("none: NXDOMAIN, but .vm names answer", async () => {
    assert.equal((await ask("10.0.0.3", "ok.test"))?.rcode, "NXDOMAIN");
    const vmAns = await ask("10.0.0.3", "peer.vm");
    assert.equal((vmAns?.answers?.[0] as { data?: string } | undefined)?.data, "172.30.0.9");
  });

  it("public: forwarded without touching the allow set; a stranger is refused", async () => {
    const before = allowed.length;
    assert.equal((await ask("10.0.0.4", "any.test"))?.rcode, "NOERROR");
    assert.equal(allowed.length, before);
    assert.equal((await ask("192.0.2.1", "any.test"))?.rcode, "REFUSED");
  });

  it("a failing allow (firewall down) answers SERVFAIL, not the address", async () => {
    const failing = new GuestResolver({
      records,
      policyFor: (ip) => policies.get(ip),
      upstreams: () => [{ host: "127.0.0.1", port: upPort }],
      allow: async () => {
        throw new Error("helper gone");
      },
    });
    const out = await failing.answer(query("ok.test"), "10.0.0.2", "udp");
    assert.equal(out ? (dnsPacket.decode(out) as { rcode?: string }).rcode : null, "SERVFAIL");
  });
});
