/** The DNS server for real: UDP and TCP on 127.0.0.1 (ephemeral port), node clients and dig. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import dnsPacket, { type DecodedPacket, type RecordType } from "dns-packet";
import { DnsServer, parseListen } from "../../src/dns/DnsServer.js";
import { VmRecords } from "../../src/dns/records.js";

type Decoded = DecodedPacket & { rcode: string };

/** The data of the first answer (an A record's address), or undefined. */
function firstData(res: DecodedPacket): unknown {
  const a = res.answers?.[0];
  return a && "data" in a ? a.data : undefined;
}
const HOST = "127.0.0.1";
const run = promisify(execFile);

let nextId = 1;
function query(name: string, type: RecordType = "A"): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: nextId++ & 0xffff,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type }],
  });
}

/** Send one datagram; the reply, or null when none comes within `ms`. */
async function udp(port: number, msg: Buffer, ms = 1000): Promise<Buffer | null> {
  const sock = dgram.createSocket("udp4");
  try {
    return await new Promise<Buffer | null>((resolve, reject) => {
      const timer = setTimeout(() => resolve(null), ms);
      sock.once("message", (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      sock.once("error", reject);
      sock.send(msg, port, HOST);
    });
  } finally {
    sock.close();
  }
}

async function udpAsk(port: number, name: string, type: RecordType = "A"): Promise<Decoded> {
  const reply = await udp(port, query(name, type));
  assert.ok(reply, `no UDP reply for ${name} ${type}`);
  return dnsPacket.decode(reply) as Decoded;
}

/** A TCP client reading length-prefixed messages. */
class TcpClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<(m: Buffer) => void> = [];
  private queued: Buffer[] = [];
  readonly closed: Promise<void>;
  private constructor(readonly sock: Socket) {
    sock.on("data", (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        const len = this.buf.readUInt16BE(0);
        const msg = this.buf.subarray(2, 2 + len);
        this.buf = this.buf.subarray(2 + len);
        const waiter = this.waiters.shift();
        if (waiter) waiter(msg);
        else this.queued.push(msg);
      }
    });
    sock.on("error", () => {});
    this.closed = new Promise((r) => sock.once("close", () => r()));
  }
  static open(port: number): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, HOST, () => resolve(new TcpClient(s)));
      s.once("error", reject);
    });
  }
  static frame(msg: Buffer): Buffer {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(msg.length);
    return Buffer.concat([p, msg]);
  }
  next(ms = 1000): Promise<Buffer> {
    const ready = this.queued.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no TCP reply")), ms);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }
  write(b: Buffer): void {
    this.sock.write(b);
  }
  close(): void {
    this.sock.destroy();
  }
}

const records = new VmRecords();
const server = new DnsServer({ records, tcpIdleMs: 400 });
let port = 0;

before(async () => {
  records.replaceAll({ dev: "172.30.0.2", web: "172.30.0.3" });
  port = parseListen(await server.start(`${HOST}:0`)).port;
});
after(() => server.stop());

describe("DNS over UDP", () => {
  it("answers NAME.vm A, authoritatively, TTL 5", async () => {
    const res = await udpAsk(port, "dev.vm");
    assert.equal(res.rcode, "NOERROR");
    assert.equal(res.flag_aa, true);
    assert.equal(res.flag_ra, false);
    assert.equal(res.flag_rd, true);
    assert.deepEqual(
      res.answers?.map((a) => [a.name, a.type, (a as { ttl: number }).ttl, (a as { data: string }).data]),
      [["dev.vm", "A", 5, "172.30.0.2"]],
    );
  });

  it("keeps the asked letter case", async () => {
    const res = await udpAsk(port, "DeV.Vm");
    assert.equal(res.answers?.[0]?.name, "DeV.Vm");
    assert.equal(res.questions?.[0]?.name, "DeV.Vm");
  });

  it("NODATA, NXDOMAIN, apex SOA/NS, REFUSED elsewhere", async () => {
    const nodata = await udpAsk(port, "dev.vm", "AAAA");
    assert.equal(nodata.rcode, "NOERROR");
    assert.deepEqual(nodata.answers, []);
    assert.equal(nodata.authorities?.[0]?.type, "SOA");
    const nx = await udpAsk(port, "nope.vm");
    assert.equal(nx.rcode, "NXDOMAIN");
    assert.equal(nx.authorities?.[0]?.type, "SOA");
    assert.equal((await udpAsk(port, "vm", "SOA")).answers?.[0]?.type, "SOA");
    assert.equal((await udpAsk(port, "vm", "NS")).answers?.[0]?.type, "NS");
    const refused = await udpAsk(port, "example.com");
    assert.equal(refused.rcode, "REFUSED");
    assert.equal(refused.flag_aa, false);
  });

  it("sees a record change immediately", async () => {
    assert.equal((await udpAsk(port, "fresh.vm")).rcode, "NXDOMAIN");
    records.set("fresh", "172.30.0.44");
    assert.equal((await udpAsk(port, "fresh.vm")).answers?.[0]?.type, "A");
    records.set("fresh", "172.30.0.45");
    assert.equal(firstData(await udpAsk(port, "fresh.vm")), "172.30.0.45");
    records.delete("fresh");
    assert.equal((await udpAsk(port, "fresh.vm")).rcode, "NXDOMAIN");
  });
});

describe("DNS over TCP", () => {
  it("answers several queries on one connection, pipelined and one by one", async () => {
    const c = await TcpClient.open(port);
    const q1 = query("dev.vm");
    const q2 = query("web.vm");
    const q3 = query("nope.vm");
    // two messages in one write, the third split across writes
    c.write(Buffer.concat([TcpClient.frame(q1), TcpClient.frame(q2)]));
    const f3 = TcpClient.frame(q3);
    const r1 = dnsPacket.decode(await c.next()) as Decoded;
    const r2 = dnsPacket.decode(await c.next()) as Decoded;
    c.write(f3.subarray(0, 1));
    await new Promise((r) => setTimeout(r, 50));
    c.write(f3.subarray(1, 7));
    c.write(f3.subarray(7));
    const r3 = dnsPacket.decode(await c.next()) as Decoded;
    assert.equal(r1.id, q1.readUInt16BE(0));
    assert.equal(firstData(r1), "172.30.0.2");
    assert.equal(r2.id, q2.readUInt16BE(0));
    assert.equal(firstData(r2), "172.30.0.3");
    assert.equal(r3.id, q3.readUInt16BE(0));
    assert.equal(r3.rcode, "NXDOMAIN");
    c.close();
  });

  it("closes an idle connection", async () => {
    const c = await TcpClient.open(port);
    const started = Date.now();
    await c.closed;
    assert.ok(Date.now() - started >= 300, "closed by the idle timeout, not at once");
  });
});

describe("malformed input", () => {
  it("UDP: random bytes and a short header get no answer or FORMERR; the server still answers", async () => {
    const junk = [Buffer.from([1, 2, 3]), Buffer.alloc(11), Buffer.from("this is not a DNS message at all")];
    for (let i = 0; i < 50; i++)
      junk.push(Buffer.from(Array.from({ length: 5 + i * 3 }, () => (Math.random() * 256) | 0)));
    for (const j of junk) {
      const reply = await udp(port, j, 50);
      if (reply) {
        const res = dnsPacket.decode(reply) as Decoded;
        assert.equal(res.id, j.readUInt16BE(0));
        assert.ok(["FORMERR", "NOTIMP", "REFUSED", "NXDOMAIN", "NOERROR"].includes(res.rcode), res.rcode);
      }
    }
    assert.equal(await udp(port, Buffer.from([1, 2, 3]), 200), null);
    const truncated = query("dev.vm").subarray(0, 15);
    const formerr = dnsPacket.decode((await udp(port, truncated)) as Buffer) as Decoded;
    assert.equal(formerr.rcode, "FORMERR");
    assert.equal(formerr.id, truncated.readUInt16BE(0));
    assert.equal((await udpAsk(port, "dev.vm")).answers?.length, 1);
  });

  it("TCP: a framed garbage message gets FORMERR and the connection keeps working", async () => {
    const c = await TcpClient.open(port);
    const garbage = Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x41]);
    c.write(TcpClient.frame(garbage));
    const res = dnsPacket.decode(await c.next()) as Decoded;
    assert.equal(res.id, 0xbeef);
    assert.equal(res.rcode, "FORMERR");
    c.write(TcpClient.frame(Buffer.from([9, 9, 9]))); // too short to answer: skipped
    c.write(TcpClient.frame(query("web.vm")));
    assert.equal(firstData(dnsPacket.decode(await c.next()) as Decoded), "172.30.0.3");
    c.close();
  });

  it("TCP: a length prefix larger than the data waits, then times out; others are served meanwhile", async () => {
    const stuck = await TcpClient.open(port);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(300);
    stuck.write(Buffer.concat([prefix, query("dev.vm")]));
    const other = await TcpClient.open(port);
    other.write(TcpClient.frame(query("dev.vm")));
    assert.equal((dnsPacket.decode(await other.next()) as Decoded).rcode, "NOERROR");
    assert.equal((await udpAsk(port, "dev.vm")).rcode, "NOERROR");
    other.close();
    await stuck.closed;
  });

  it("TCP: a length prefix over the size bound closes the connection at once", async () => {
    const c = await TcpClient.open(port);
    c.write(Buffer.from([0xff, 0xff, 1, 2, 3, 4]));
    const started = Date.now();
    await c.closed;
    assert.ok(Date.now() - started < 300);
    assert.equal((await udpAsk(port, "dev.vm")).rcode, "NOERROR");
  });

  it("counts every message in status()", () => {
    const s = server.status();
    assert.equal(s.udp, true);
    assert.equal(s.tcp, true);
    assert.ok(s.queries > 60, String(s.queries));
    assert.equal(s.records, 2);
  });
});

const dig = ["/usr/bin/dig", "/bin/dig", "/usr/local/bin/dig"].find((p) => existsSync(p));

describe("dig", { skip: dig === undefined ? "dig is not installed (package dnsutils)" : false }, () => {
  const digArgs = (...extra: string[]): string[] => [
    `@${HOST}`,
    "-p",
    String(port),
    "+time=2",
    "+tries=1",
    ...extra,
  ];

  it("dig +short over UDP and TCP", async () => {
    for (const proto of ["+notcp", "+tcp"]) {
      const { stdout } = await run(dig as string, digArgs("dev.vm", "A", "+short", proto));
      assert.equal(stdout.trim(), "172.30.0.2", proto);
    }
  });

  it("dig sees the status and the aa flag", async () => {
    const nx = await run(dig as string, digArgs("nope.vm", "A"));
    assert.match(nx.stdout, /status: NXDOMAIN/);
    assert.match(nx.stdout, /flags: qr aa rd;/);
    const refused = await run(dig as string, digArgs("example.com", "A", "+tcp"));
    assert.match(refused.stdout, /status: REFUSED/);
    const soa = await run(dig as string, digArgs("vm", "SOA", "+short"));
    assert.match(soa.stdout.trim(), /^localhost\. nobody\.invalid\. \d+ 3600 600 86400 5$/);
  });
});
