import assert from "node:assert/strict";
import { test } from "node:test";
import { BangerError } from "../errors/index.js";
import {
  defaultNetwork,
  netArgv,
  netCommandError,
  parseIpLinks,
  parseTuntapOwners,
  tapIndex,
  tapName,
  tapPrefix,
} from "./net.js";

test("TAP names: bridge prefix (9 chars) + t + number, never longer than 15", () => {
  assert.equal(tapPrefix("banger0"), "banger0t");
  assert.equal(tapName("banger0", 0), "banger0t0");
  assert.equal(tapName("averyverylongbr", 99_999), "averyveryt99999");
  assert.equal(tapName("averyverylongbr", 99_999).length, 15);
  assert.throws(() => tapName("banger0", 100_000), /out of range/);
  assert.throws(() => tapName("banger0", -1), /out of range/);
  assert.throws(() => tapPrefix("-x"), /invalid interface name/);
});

test("tapIndex recognises only this bridge's scheme", () => {
  assert.equal(tapIndex("banger0", "banger0t12"), 12);
  assert.equal(tapIndex("banger0", "banger0t0"), 0);
  assert.equal(tapIndex("banger0", "banger0t01"), null);
  assert.equal(tapIndex("banger0", "banger0t"), null);
  assert.equal(tapIndex("banger0", "banger0"), null);
  assert.equal(tapIndex("banger0", "banger1t1"), null);
  assert.equal(tapIndex("banger0", "banger0t1x"), null);
});

test("argv builders refuse names that could be options", () => {
  assert.throws(() => netArgv.linkShow("-all"), /invalid interface name/);
  assert.throws(() => netArgv.addrShow("a b"), /invalid interface name/);
  assert.deepEqual(netArgv.linksDetailed(), ["ip", "-j", "-d", "addr", "show"]);
  assert.deepEqual(netArgv.linkShowDetailed("banger0t1"), [
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    "dev",
    "banger0t1",
  ]);
});

test("each user gets their own default bridge and subnet, derived from the uid", () => {
  assert.deepEqual(defaultNetwork(1000), { bridge: "bgr1000", subnet: "172.30.232.0/24" });
  assert.deepEqual(defaultNetwork(0), { bridge: "bgr0", subnet: "172.30.0.0/24" });
  assert.notEqual(defaultNetwork(1001).subnet, defaultNetwork(1000).subnet);
  assert.equal(tapName(defaultNetwork(4294967294).bridge, 99_999).length, 15);
});

const SAMPLE = JSON.stringify([
  { ifname: "lo", flags: ["LOOPBACK"], addr_info: [] },
  {
    ifname: "banger0",
    flags: ["BROADCAST", "MULTICAST", "UP"],
    linkinfo: { info_kind: "bridge", info_data: {} },
    addr_info: [
      { family: "inet", local: "172.30.0.1", prefixlen: 24 },
      { family: "inet6", local: "fe80::1", prefixlen: 64 },
    ],
  },
  {
    ifname: "banger0t0",
    flags: ["NO-CARRIER", "UP"],
    master: "banger0",
    linkinfo: { info_kind: "tun", info_data: { type: "tap", user: "nobody" } },
  },
  { flags: [] },
]);

test("parseIpLinks reads kind, flags, master and IPv4 addresses", () => {
  const links = parseIpLinks(SAMPLE);
  assert.deepEqual(
    links.map((l) => [l.name, l.kind, l.tunType, l.up, l.master, l.ipv4]),
    [
      ["lo", "", undefined, false, undefined, []],
      ["banger0", "bridge", undefined, true, undefined, ["172.30.0.1/24"]],
      ["banger0t0", "tun", "tap", true, "banger0", []],
    ],
  );
  assert.deepEqual(parseIpLinks(""), []);
  assert.throws(() => parseIpLinks("Device not found"), /not JSON/);
  assert.throws(() => parseIpLinks("{}"), /expected a JSON array/);
});

test("parseTuntapOwners gives numeric owners", () => {
  const owners = parseTuntapOwners(
    JSON.stringify([
      { ifname: "banger0t0", flags: ["tap", "persist"], user: 1000, group: 1000 },
      { ifname: "tap9", flags: ["tap"] },
    ]),
  );
  assert.equal(owners.get("banger0t0"), 1000);
  assert.ok(owners.has("tap9"));
  assert.equal(owners.get("tap9"), undefined);
});

test("netCommandError names the command and its stderr, and hints at privileges when denied", () => {
  const result = {
    argv: ["ip"],
    code: 2,
    stdout: "",
    stderr: "RTNETLINK answers: Operation not permitted\n",
  };
  const e = netCommandError("create bridge br0", ["sudo", "-n", "--", "ip", "link", "add"], result);
  assert.equal(e.code, "COMMAND_FAILED");
  assert.equal(
    e.message,
    "could not create bridge br0: `sudo -n -- ip link add` failed: RTNETLINK answers: Operation not permitted",
  );
  assert.match(e.hint ?? "", /privileged helper.*banger sudoers/);
  assert.deepEqual(e.details, result);
  const other = netCommandError(
    "x",
    ["ip"],
    new BangerError("COMMAND_FAILED", "m", { details: { ...result, stderr: "File exists" } }),
  );
  assert.match(other.message, /failed: File exists$/);
  assert.equal(other.hint, "run `banger doctor` to check the host's networking prerequisites");
  const missing = new BangerError("PREFLIGHT_FAILED", "ip is not installed or not on PATH", {
    hint: "install iproute2",
  });
  const pre = netCommandError("list network links", ["ip"], missing);
  assert.equal(pre.code, "PREFLIGHT_FAILED");
  assert.equal(pre.message, "could not list network links: ip is not installed or not on PATH");
  assert.equal(pre.hint, "install iproute2");
});
