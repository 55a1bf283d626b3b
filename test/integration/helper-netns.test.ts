/**
 * The real bundled helper (dist/helper/banger-helper.mjs), started as root
 * with SUDO_UID of throwaway users, inside a network namespace made here:
 * it creates the caller's bridge and TAPs with the marker and owner, refuses
 * another uid's TAP and an overlapping subnet, and counts ip_forward users.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { HelperClient } from "../../src/host/helper/HelperClient.js";
import { repoRoot } from "../helpers/repoRoot.js";

const BUNDLE = path.join(repoRoot(), "dist/helper/banger-helper.mjs");
const suffix = randomBytes(3).toString("hex");
const NS = `bghelp-${suffix}`;
const USERS = [`bgt-a${suffix}`, `bgt-b${suffix}`];

const skip =
  process.getuid?.() !== 0
    ? "needs root (ip netns add, useradd)"
    : !existsSync("/dev/net/tun")
      ? "needs /dev/net/tun"
      : false;

const ip = (...args: string[]) => execFileSync("ip", ["-n", NS, ...args], { encoding: "utf8" });
const inNs = (...argv: string[]) => execFileSync("ip", ["netns", "exec", NS, ...argv], { encoding: "utf8" });
const link = (dev: string) =>
  (JSON.parse(ip("-j", "-d", "link", "show", "dev", dev)) as Array<Record<string, unknown>>)[0] ?? {};

describe("bundled helper in a network namespace", { skip }, () => {
  const ids: Array<{ uid: number; gid: number }> = [];
  const clients: HelperClient[] = [];
  const helperFor = (i: number) => {
    const u = ids[i]!;
    const c = new HelperClient({
      command: [
        "ip",
        "netns",
        "exec",
        NS,
        "env",
        "-i",
        `SUDO_UID=${u.uid}`,
        `SUDO_GID=${u.gid}`,
        process.execPath,
        BUNDLE,
      ],
    });
    clients.push(c);
    return c;
  };
  let netnsKey = "";

  before(() => {
    execFileSync("ip", ["netns", "add", NS]);
    for (const u of USERS) {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u]);
      const uid = Number(execFileSync("id", ["-u", u], { encoding: "utf8" }));
      const gid = Number(execFileSync("id", ["-g", u], { encoding: "utf8" }));
      ids.push({ uid, gid });
    }
    netnsKey = `netns-${inNs("stat", "-L", "-c", "%i", "/proc/self/ns/net").trim()}`; // + lo's token, read after the first sysctl.set
  });

  after(() => {
    for (const c of clients) c.close();
    spawnSync("ip", ["netns", "del", NS]);
    for (const u of USERS) spawnSync("userdel", [u]);
    rmSync(path.join("/run/banger/ip_forward", netnsKey), { recursive: true, force: true });
  });

  it("creates the caller's bridge and a TAP owned by the caller, marked, isolated", async () => {
    const a = helperFor(0);
    const uid = ids[0]!.uid;
    assert.deepEqual(await a.call("hello", {}), { version: 1, uid, vmmUid: uid, vmmGid: ids[0]!.gid });
    await a.call("bridge.ensure", { bridge: "bgra", cidr: "172.30.77.0/24" });
    const br = link("bgra");
    assert.equal(br.ifalias, `banger:uid=${uid}`);
    assert.match(ip("-4", "addr", "show", "dev", "bgra"), /inet 172\.30\.77\.1\/24/);
    assert.deepEqual(await a.call("tap.create", { tap: "bgrat0", bridge: "bgra" }), { ownerUid: uid });
    const tap = link("bgrat0");
    assert.equal(tap.ifalias, `banger:uid=${uid}`);
    assert.equal(tap.master, "bgra");
    const owners = JSON.parse(ip("-j", "tuntap", "show")) as Array<{ ifname: string; user?: number }>;
    assert.equal(owners.find((o) => o.ifname === "bgrat0")?.user, uid);
    const port = JSON.parse(inNs("bridge", "-j", "-d", "link", "show", "dev", "bgrat0")) as Array<{
      isolated?: boolean;
    }>;
    assert.equal(port[0]?.isolated, true, "the TAP's bridge port is isolated");
  });

  it("refuses to delete or take over a TAP made for another uid, and an overlapping subnet", async () => {
    const a = helperFor(0);
    const b = helperFor(1);
    await b.call("bridge.ensure", { bridge: "bgrb", cidr: "172.30.78.0/24" });
    await b.call("tap.create", { tap: "bgrbt0", bridge: "bgrb" });
    await assert.rejects(a.call("tap.delete", { tap: "bgrbt0" }), /bgrbt0 was not made by banger for uid/);
    await assert.rejects(
      a.call("tap.create", { tap: "bgrbt0", bridge: "bgrb" }),
      /bgrb was not made by banger/,
    );
    await assert.rejects(a.call("bridge.ensure", { bridge: "bgrb", cidr: "172.30.79.0/24" }), /refusing/);
    await assert.rejects(
      a.call("bridge.ensure", { bridge: "bgra", cidr: "172.30.78.0/25" }),
      /overlaps the host's route 172\.30\.78\.0\/24 dev bgrb/,
    );
    await assert.rejects(a.call("tap.delete", { tap: "a;b" }), /not a valid interface name/);
    assert.equal(link("bgrbt0").ifalias, `banger:uid=${ids[1]!.uid}`, "B's TAP is still there");
    await b.call("tap.delete", { tap: "bgrbt0" });
    assert.ok(!ip("-j", "link", "show").includes("bgrbt0"), "its owner deleted it");
  });

  it("ip_forward: recorded per uid, restored to the original when the last uid is done", async () => {
    const hostBefore = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
    const fwd = () => inNs("cat", "/proc/sys/net/ipv4/ip_forward").trim();
    assert.equal(fwd(), "0");
    const [a, b] = [helperFor(0), helperFor(1)];
    assert.deepEqual(await a.call("sysctl.set", { name: "net.ipv4.ip_forward", value: 1 }), {
      previous: "0",
    });
    await b.call("sysctl.set", { name: "net.ipv4.ip_forward", value: 1 });
    assert.equal(fwd(), "1");
    const lo = JSON.parse(inNs("ip", "-j", "link", "show", "dev", "lo")) as Array<{ ifalias?: string }>;
    const token = /^banger-netns:([0-9a-f]{16})$/.exec(lo[0]?.ifalias ?? "")?.[1];
    assert.ok(token, "the namespace carries banger's token on lo");
    netnsKey = `${netnsKey}-${token}`;
    const dir = path.join("/run/banger/ip_forward", netnsKey);
    assert.equal(statSync(dir).uid, 0);
    await a.call("sysctl.set", { name: "net.ipv4.ip_forward", value: 0 });
    assert.equal(fwd(), "1", "B still needs it");
    await b.call("sysctl.set", { name: "net.ipv4.ip_forward", value: 0 });
    assert.equal(fwd(), "0", "restored");
    await assert.rejects(
      a.call("sysctl.set", { name: "kernel.core_pattern" as "net.ipv4.ip_forward", value: 1 }),
      /only net\.ipv4\.ip_forward/,
    );
    assert.equal(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8"), hostBefore, "host setting untouched");
  });
});
