import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { checkIdentity, decodeIdentity, encodeIdentity, type Identity } from "./identity.js";
import { encodeSimple, parseReply } from "./protocol.js";

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0 root@fork";

const FULL: Identity = {
  hostname: "fork-1",
  machineId: "0123456789abcdef0123456789abcdef",
  clockMs: 1_765_000_000_123,
  entropy: Buffer.alloc(32, 7),
  network: { ip: "172.30.98.7", prefixLen: 24, gateway: "172.30.98.1", mac: "06:00:AC:1E:62:07" },
  sshHostKey: { privateKey: KEY, publicKey: `${PUB}\n` },
};

const invalid = (field: RegExp) => (e: unknown) => {
  assert.ok(isBangerError(e), String(e));
  assert.equal(e.code, "INVALID_ARGUMENT");
  assert.match(e.message, field);
  return true;
};

describe("agent protocol v3: sync and identity", () => {
  it("encodes sync and parses ok", () => {
    assert.equal(encodeSimple(4, "sync"), "4 sync\n");
    assert.deepEqual(parseReply("4 ok -"), { id: 4, kind: "ok" });
    assert.equal(parseReply("4 ok").kind, "invalid");
    assert.equal(parseReply("4 ok yes").kind, "invalid");
  });

  it("encodes every field as KEY=VALUE, text and bytes in base64, the MAC in lowercase", () => {
    assert.equal(
      encodeIdentity(9, FULL),
      `${[
        "9 identity",
        `hostname=${b64("fork-1")}`,
        "machine-id=0123456789abcdef0123456789abcdef",
        "clock=1765000000123",
        `entropy=${b64(Buffer.alloc(32, 7))}`,
        "address=172.30.98.7/24",
        "gateway=172.30.98.1",
        "mac=06:00:ac:1e:62:07",
        `ssh-key=${b64(KEY)}`,
        `ssh-pub=${b64(PUB)}`,
      ].join(" ")}\n`,
    );
  });

  it("without network and SSH key sends only the four required fields; clock and entropy default", () => {
    const before = Date.now();
    const line = encodeIdentity(1, { hostname: "h", machineId: "f".repeat(32) });
    const f = line.trim().split(" ");
    assert.deepEqual(
      f.map((x) => x.split("=")[0]),
      ["1", "identity", "hostname", "machine-id", "clock", "entropy"],
    );
    const clock = Number(f[4]!.slice("clock=".length));
    assert.ok(clock >= before && clock <= Date.now());
    assert.equal(Buffer.from(f[5]!.slice("entropy=".length), "base64").length, 64);
    assert.notEqual(encodeIdentity(1, { hostname: "h", machineId: "f".repeat(32) }), line, "fresh entropy");
  });

  it("decodes what it encodes (the fake agent's side)", () => {
    const back = decodeIdentity(encodeIdentity(9, FULL).trim().split(" ").slice(2));
    assert.deepEqual(back, {
      ...FULL,
      entropy: Buffer.alloc(32, 7),
      network: { ...FULL.network!, mac: "06:00:ac:1e:62:07" },
      sshHostKey: { privateKey: KEY, publicKey: PUB },
    });
    assert.match(String(decodeIdentity(["hostname=aA==", "mac"])), /bad field mac/);
    assert.match(String(decodeIdentity([`hostname=${b64("h")}`, "machine-id=x"])), /machineId/);
  });

  it("refuses each bad field by name before anything is sent", () => {
    const bad: Array<[Partial<Identity>, RegExp]> = [
      [{ hostname: "-x" }, /bad hostname/],
      [{ hostname: "a b" }, /bad hostname/],
      [{ hostname: "x".repeat(65) }, /bad hostname/],
      [{ machineId: "0".repeat(32) }, /bad machineId/],
      [{ machineId: "ABCDEF0123456789ABCDEF0123456789" }, /bad machineId/],
      [{ clockMs: 1_765_000_000 }, /bad clockMs/],
      [{ entropy: Buffer.alloc(31) }, /bad entropy: 31 bytes/],
      [{ network: { ...FULL.network!, ip: "1.2.3" } }, /bad network\.ip/],
      [{ network: { ...FULL.network!, prefixLen: 33 } }, /bad network\.prefixLen/],
      [
        { network: { ...FULL.network!, gateway: "172.30.99.1" } },
        /bad network\.gateway: .* not another address/,
      ],
      [{ network: { ...FULL.network!, gateway: "172.30.98.7" } }, /bad network\.gateway/],
      [{ network: { ...FULL.network!, mac: "07:00:00:00:00:01" } }, /bad network\.mac/],
      [{ network: { ...FULL.network!, mac: "00:00:00:00:00:00" } }, /bad network\.mac/],
      [{ network: { ...FULL.network!, mac: "06:00:00:00:00" } }, /bad network\.mac/],
      [{ sshHostKey: { privateKey: "ssh-rsa x", publicKey: PUB } }, /bad sshHostKey\.privateKey/],
      [{ sshHostKey: { privateKey: KEY, publicKey: "ssh-rsa AAAA" } }, /bad sshHostKey\.publicKey/],
      [{ sshHostKey: { privateKey: KEY, publicKey: `${PUB}\n${PUB}` } }, /bad sshHostKey\.publicKey/],
    ];
    for (const [patch, field] of bad) {
      assert.throws(() => checkIdentity({ ...FULL, ...patch }), invalid(field), JSON.stringify(patch));
      assert.throws(() => encodeIdentity(1, { ...FULL, ...patch }), invalid(field));
    }
    const wide = { ...FULL.network!, ip: "10.7.200.9", prefixLen: 16, gateway: "10.7.0.1" };
    assert.doesNotThrow(() => checkIdentity({ ...FULL, network: wide }));
  });
});
