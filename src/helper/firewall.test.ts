import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildAllowScript, buildFirewallScript, isolatedTaps, NON_PUBLIC_RANGES } from "./firewall.js";
import { parseForwardDropChains, parseHostAddrs, parseSets } from "./firewallHost.js";
import { validateFirewallSpec } from "./firewallSpec.js";
import type { FirewallSpec } from "./protocol.js";

const good = (): FirewallSpec => ({
  bridge: "banger0",
  subnet: "172.30.0.0/24",
  gateway: "172.30.0.1",
  dnsPort: 42053,
  nat: true,
  vms: [
    {
      tap: "banger0t0",
      mac: "06:00:00:00:00:02",
      ip: "172.30.0.2",
      egress: "public",
      peers: [],
      allowed: [],
    },
    {
      tap: "banger0t1",
      mac: "06:00:00:00:00:03",
      ip: "172.30.0.3",
      egress: "allow",
      peers: ["172.30.0.4"],
      allowed: [{ ip: "203.0.113.7", ttlS: 60 }],
    },
    { tap: "banger0t2", mac: "06:00:00:00:00:04", ip: "172.30.0.4", egress: "none", peers: [], allowed: [] },
  ],
});

function bad(mut: (s: Record<string, unknown> & FirewallSpec) => void, msg: RegExp): void {
  const s = good() as Record<string, unknown> & FirewallSpec;
  mut(s);
  assert.throws(() => validateFirewallSpec(s), msg);
}

describe("firewall spec validation", () => {
  it("accepts a good spec unchanged", () => {
    assert.deepEqual(validateFirewallSpec(good()), good());
  });

  it("names the field and the fix", () => {
    bad((s) => {
      s.subnet = "172.30.0.5/24";
    }, /spec.subnet: 172.30.0.5\/24 has host bits set \(the network is 172.30.0.0\)/);
    bad((s) => {
      s.gateway = "172.30.0.9";
    }, /spec.gateway: .* must be the first host address of 172.30.0.0\/24 \(172.30.0.1\)/);
    bad((s) => {
      s.dnsPort = 0;
    }, /spec.dnsPort: 0 must be an integer from 1 to 65535/);
    bad((s) => {
      s.nat = "yes" as unknown as boolean;
    }, /spec.nat/);
    bad((s) => {
      s.extra = 1;
    }, /spec.extra: unknown field/);
    bad((s) => {
      (s.vms[0] as { tap: string }).tap = "-o evil";
    }, /spec.vms\[0\].tap: .* is not a valid interface name/);
    bad((s) => {
      (s.vms[0] as { mac: string }).mac = "01:00:00:00:00:01";
    }, /spec.vms\[0\].mac: 01:00:00:00:00:01 is a multicast MAC/);
    bad((s) => {
      (s.vms[0] as { ip: string }).ip = "10.0.0.2";
    }, /spec.vms\[0\].ip: 10.0.0.2 is outside the subnet/);
    bad((s) => {
      (s.vms[0] as { ip: string }).ip = "172.30.0.1";
    }, /is the gateway/);
    bad((s) => {
      (s.vms[0] as { egress: string }).egress = "all";
    }, /spec.vms\[0\].egress: "all" is not one of none, public, allow/);
    bad((s) => {
      (s.vms[2] as { ip: string }).ip = "172.30.0.2";
    }, /spec.vms\[2\].ip: 172.30.0.2 is also spec.vms\[0\].ip/);
    bad((s) => {
      (s.vms[0] as { peers: string[] }).peers = ["172.30.0.9"];
    }, /spec.vms\[0\].peers\[0\]: 172.30.0.9 is not the address of a VM/);
    bad((s) => {
      (s.vms[0] as { allowed: unknown[] }).allowed = [{ ip: "1.2.3.4", ttlS: 60 }];
    }, /spec.vms\[0\].allowed: must be empty unless egress is "allow"/);
    bad((s) => {
      (s.vms[1] as { allowed: unknown[] }).allowed = [{ ip: "1.2.3.4", ttlS: 0 }];
    }, /spec.vms\[1\].allowed\[0\].ttlS: 0 must be an integer/);
  });
});

describe("firewall script", () => {
  const script = buildFirewallScript(good(), { uid: 1000, hostAddrs: ["192.168.1.20"] });

  it("replaces both tables in one transaction", () => {
    assert.match(
      script,
      /^add table inet banger_u1000\ndelete table inet banger_u1000\nadd table bridge banger_u1000\ndelete table bridge banger_u1000\ntable inet banger_u1000 \{/,
    );
    assert.match(script, /\ntable bridge banger_u1000 \{/);
  });

  it("anti-spoofs every TAP and drops every other TAP of the bridge", () => {
    assert.match(
      script,
      /chain tap_172_30_0_2 \{\n {4}ether saddr != 06:00:00:00:00:02 counter name "spoof_172_30_0_2" drop/,
    );
    assert.match(script, /arp saddr ip != 172.30.0.2 /);
    assert.match(script, /ether type ip ip saddr != 172.30.0.2 /);
    assert.match(script, /ether type != \{ ip, arp \} /);
    assert.match(script, /hook prerouting priority -300;[\s\S]*?iifname "banger0t\*" drop/);
  });

  it("isolates guests at L2 except peers, both ways", () => {
    assert.match(
      script,
      /iifname "banger0t1" oifname "banger0t2" accept\n {4}iifname "banger0t2" oifname "banger0t1" accept/,
    );
    assert.match(script, /iifname \{ "banger0t0", "banger0t1", "banger0t2" \} oifname "banger0t\*" drop/);
    assert.deepEqual(isolatedTaps(good()), [
      { tap: "banger0t0", isolated: true },
      { tap: "banger0t1", isolated: false },
      { tap: "banger0t2", isolated: false },
    ]);
  });

  it("lets guests reach only DNS on the gateway, redirected to the daemon's port", () => {
    assert.match(script, /ip daddr 172.30.0.1 meta l4proto \{ tcp, udp \} th dport 53 redirect to :42053/);
    assert.match(script, /th dport 42053 ct original proto-dst 53 accept/);
    assert.match(script, /ip saddr 172.30.0.0\/24 drop\n {2}\}/);
  });

  it("egress: public blocks non-public and host addresses, allow only its set, none nothing", () => {
    for (const r of NON_PUBLIC_RANGES) assert.ok(script.includes(r), r);
    assert.match(script, /192.168.1.20/);
    assert.doesNotMatch(script, /192.0.2.0|198.51.100.0|203.0.113.0\//);
    assert.match(
      script,
      /chain vm_172_30_0_2 \{[^}]*ip daddr @non_public counter name "drop_172_30_0_2" drop\n {4}accept/,
    );
    assert.match(
      script,
      /chain vm_172_30_0_3 \{[\s\S]*?th dport \{ 53, 853 \}[\s\S]*?ip daddr != @allow_172_30_0_3 [\s\S]*?accept/,
    );
    assert.match(
      script,
      /set allow_172_30_0_3 \{ type ipv4_addr; flags timeout; elements = \{ 203.0.113.7 timeout 60s \}; \}/,
    );
    assert.match(
      script,
      /chain vm_172_30_0_4 \{\n {4}ct state established,related accept\n {4}ip daddr \{ 172.30.0.3 \} accept\n {4}counter name "drop_172_30_0_4" drop/,
    );
    assert.match(script, /masquerade/);
  });

  it("with nat off: no egress rules and no masquerade", () => {
    const off = buildFirewallScript({ ...good(), nat: false }, { uid: 1, hostAddrs: [] });
    assert.doesNotMatch(off, /masquerade|@allow_|ip daddr @non_public/);
  });

  it("keeps counters across a replace", () => {
    const s = buildFirewallScript(good(), {
      uid: 1,
      hostAddrs: [],
      counters: new Map([["drop_172_30_0_2", { packets: 7, bytes: 420 }]]),
    });
    assert.match(s, /counter drop_172_30_0_2 \{ packets 7 bytes 420 \}/);
  });

  it("refreshes an allow entry's timeout", () => {
    assert.equal(
      buildAllowScript(5, "172.30.0.3", [
        { ip: "203.0.113.7", ttlS: 60 },
        { ip: "203.0.113.7", ttlS: 300 },
      ]),
      "add element inet banger_u5 allow_172_30_0_3 { 203.0.113.7 }\ndelete element inet banger_u5 allow_172_30_0_3 { 203.0.113.7 }\nadd element inet banger_u5 allow_172_30_0_3 { 203.0.113.7 timeout 300s }\n",
    );
  });
});

describe("firewall host parsers", () => {
  it("reads addresses, sets and forward-drop chains", () => {
    assert.deepEqual(
      parseHostAddrs(
        JSON.stringify([
          {
            addr_info: [
              { family: "inet", local: "10.0.0.5" },
              { family: "inet6", local: "::1" },
            ],
          },
        ]),
      ),
      ["10.0.0.5"],
    );
    const sets = parseSets([
      { set: { name: "allow_x", elem: [{ elem: { val: "1.2.3.4", timeout: 60, expires: 41 } }] } },
    ]);
    assert.deepEqual(sets, [{ name: "allow_x", elems: [{ ip: "1.2.3.4", expiresS: 41 }] }]);
    assert.deepEqual(
      parseForwardDropChains([
        { chain: { family: "ip", table: "filter", name: "FORWARD", hook: "forward", policy: "drop" } },
        { chain: { family: "inet", table: "x", name: "f", hook: "forward", policy: "accept" } },
      ]),
      ["ip filter FORWARD"],
    );
  });
});
