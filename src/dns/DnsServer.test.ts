import assert from "node:assert/strict";
import dgram from "node:dgram";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import dnsPacket, { type DecodedPacket } from "dns-packet";
import pino from "pino";
import { BangerError } from "../errors/index.js";
import { type DnsLog, DnsServer, parseListen } from "./DnsServer.js";
import { VmRecords } from "./records.js";

describe("parseListen", () => {
  it("takes IPv4:port and [IPv6]:port", () => {
    assert.deepEqual(parseListen("127.0.0.1:42069"), { host: "127.0.0.1", port: 42069 });
    assert.deepEqual(parseListen("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("[::1]:53"), { host: "::1", port: 53 });
  });
  it("refuses anything else, naming the config key", () => {
    for (const bad of [
      "127.0.0.1",
      "localhost:53",
      "127.0.0.1:65536",
      "127.0.0.1:-1",
      "::1:53",
      "[127.0.0.1]:53",
      "",
    ]) {
      assert.throws(
        () => parseListen(bad),
        (e: unknown) =>
          e instanceof BangerError && e.code === "CONFIG_INVALID" && /\[dns\] listen/.test(e.hint ?? ""),
        bad,
      );
    }
  });
});

describe("DnsServer lifecycle", () => {
  it("a pino logger fits DnsLog", () => {
    const log: DnsLog = pino({ level: "silent" });
    assert.ok(log);
  });

  it("start returns the bound address, status reflects it, stop releases the port", async () => {
    const records = new VmRecords();
    records.set("dev", "172.30.0.2");
    const server = new DnsServer({ records });
    assert.deepEqual(server.status(), { listen: null, udp: false, tcp: false, queries: 0, records: 1 });
    const bound = await server.start("127.0.0.1:0");
    const { port } = parseListen(bound);
    assert.ok(port > 0);
    assert.deepEqual(server.status(), { listen: bound, udp: true, tcp: true, queries: 0, records: 1 });
    await assert.rejects(
      server.start("127.0.0.1:0"),
      (e: unknown) => e instanceof BangerError && e.code === "CONFLICT",
    );
    await server.stop();
    assert.equal(server.status().udp, false);
    // the same port can be bound again, by a new server
    const again = new DnsServer({ records });
    assert.equal(await again.start(bound), bound);
    await again.stop();
    await server.stop(); // stopping twice is fine
  });

  it("EADDRINUSE on UDP becomes a BangerError naming the address and [dns] listen", async () => {
    const taken = dgram.createSocket("udp4");
    await new Promise<void>((r) => taken.bind(0, "127.0.0.1", () => r()));
    const listen = `127.0.0.1:${taken.address().port}`;
    const server = new DnsServer({ records: new VmRecords() });
    await assert.rejects(server.start(listen), (e: unknown) => {
      assert.ok(e instanceof BangerError);
      assert.equal(e.code, "PREFLIGHT_FAILED");
      assert.ok(e.message.includes(listen), e.message);
      assert.match(e.message, /address already in use/);
      assert.match(e.hint ?? "", /\[dns\] listen/);
      return true;
    });
    assert.equal(server.status().udp, false);
    taken.close();
  });

  it("EADDRINUSE on TCP (UDP free) is reported too, and the UDP socket is released", async () => {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    const port = (tcp.address() as { port: number }).port;
    const listen = `127.0.0.1:${port}`;
    const server = new DnsServer({ records: new VmRecords() });
    await assert.rejects(server.start(listen), (e: unknown) => {
      assert.ok(e instanceof BangerError);
      assert.match(e.message, /\(tcp\): address already in use/);
      assert.ok(e.message.includes(listen));
      return true;
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    // UDP was closed after the TCP failure: the address is free again.
    assert.equal(await server.start(listen), listen);
    await server.stop();
  });

  it("counts queries and logs through the given logger without crashing on junk", async () => {
    const lines: string[] = [];
    const log: DnsLog = { debug: (_o, m) => lines.push(m), warn: (_o, m) => lines.push(`WARN ${m}`) };
    const server = new DnsServer({ records: new VmRecords(), log });
    const { port } = parseListen(await server.start("127.0.0.1:0"));
    const client = dgram.createSocket("udp4");
    const reply = new Promise<Buffer>((r) => client.once("message", (m) => r(m)));
    client.send(Buffer.from([1, 2, 3]), port, "127.0.0.1");
    client.send(
      dnsPacket.encode({ type: "query", id: 9, questions: [{ name: "x.vm", type: "A" }] }),
      port,
      "127.0.0.1",
    );
    const res = dnsPacket.decode(await reply) as DecodedPacket & { rcode: string };
    assert.equal(res.id, 9);
    assert.equal(res.rcode, "NXDOMAIN");
    assert.equal(server.status().queries, 2);
    assert.ok(lines.includes("dns: message ignored"));
    assert.ok(!lines.some((l) => l.startsWith("WARN")), lines.join("\n"));
    client.close();
    await server.stop();
  });
});
