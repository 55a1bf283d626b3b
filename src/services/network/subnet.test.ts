import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../../errors/index.js";
import { parseSubnet, subnetContains } from "./subnet.js";

test("a /24: gateway is the first host, guests are .2 to .254", () => {
  const s = parseSubnet("172.30.0.0/24");
  assert.equal(s.cidr, "172.30.0.0/24");
  assert.equal(s.gateway, "172.30.0.1");
  assert.equal(s.netmask, "255.255.255.0");
  assert.equal(s.prefix, 24);
  const guests = [...s.guestAddresses()];
  assert.equal(guests.length, 253);
  assert.equal(guests[0], "172.30.0.2");
  assert.equal(guests.at(-1), "172.30.0.254");
});

test("a /29 leaves five guest addresses, network, gateway and broadcast excluded", () => {
  const s = parseSubnet("10.1.2.8/29");
  assert.equal(s.gateway, "10.1.2.9");
  assert.equal(s.netmask, "255.255.255.248");
  assert.deepEqual(
    [...s.guestAddresses()],
    ["10.1.2.10", "10.1.2.11", "10.1.2.12", "10.1.2.13", "10.1.2.14"],
  );
});

test("a /16 crosses octet boundaries and ends before the broadcast", () => {
  const s = parseSubnet("172.16.0.0/16");
  assert.equal(s.gateway, "172.16.0.1");
  assert.equal(s.netmask, "255.255.0.0");
  const guests = [...s.guestAddresses()];
  assert.equal(guests.length, 65536 - 3);
  assert.equal(guests[0], "172.16.0.2");
  assert.equal(guests[254], "172.16.1.0");
  assert.equal(guests.at(-1), "172.16.255.254");
  assert.ok(!guests.includes("172.16.0.1"));
});

test("guestAddresses() can be iterated again and lazily", () => {
  const s = parseSubnet("192.168.100.0/30");
  assert.deepEqual([...s.guestAddresses()], ["192.168.100.2"]);
  assert.deepEqual([...s.guestAddresses()], ["192.168.100.2"]);
  const it = parseSubnet("10.0.0.0/8").guestAddresses()[Symbol.iterator]();
  assert.equal(it.next().value, "10.0.0.2");
});

test("invalid CIDRs are refused with the reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["172.30.0.0", /not an IPv4 CIDR/],
    ["172.30.0.300/24", /not an IPv4 CIDR/],
    ["nonsense/24", /not an IPv4 CIDR/],
    ["172.30.0.0/31", /prefix \/31/],
    ["172.30.0.0/0", /prefix \/0/],
    ["172.30.0.5/24", /host bits set \(did you mean "172\.30\.0\.0\/24"\?\)/],
  ];
  for (const [cidr, why] of cases) {
    assert.throws(
      () => parseSubnet(cidr),
      (e: unknown) => {
        assert.ok(e instanceof BangerError);
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.match(e.message, why);
        assert.ok(e.hint?.includes("[network] subnet"));
        return true;
      },
      cidr,
    );
  }
});

test("subnetContains", () => {
  const s = parseSubnet("172.30.0.0/24");
  assert.ok(subnetContains(s, "172.30.0.7"));
  assert.ok(subnetContains(s, "172.30.0.255"));
  assert.ok(!subnetContains(s, "172.30.1.7"));
  assert.ok(!subnetContains(s, "not-an-ip"));
});
