import assert from "node:assert/strict";
import { describe, it } from "node:test";
import dnsPacket, {
  type Answer,
  type DecodedPacket,
  type Packet,
  type RecordType,
  type SoaAnswer,
} from "dns-packet";
import {
  answerQuery,
  DNS_TTL,
  type DnsQuery,
  EDNS_UDP_SIZE,
  encodeResponse,
  firstQuestionEnd,
  maxUdpResponse,
  Rcode,
  respond,
  responseRcode,
} from "./answer.js";
import { type RecordSource, VmRecords } from "./records.js";

type Decoded = DecodedPacket & { rcode: string; opcode: string };

/** The data of the first answer (an A record's address), or undefined. */
function firstData(res: DecodedPacket): unknown {
  const a = res.answers?.[0];
  return a && "data" in a ? a.data : undefined;
}

function records(): VmRecords {
  const r = new VmRecords();
  r.set("dev", "172.30.0.2");
  r.set("web", "172.30.0.3");
  return r;
}

/** Encode then decode a query, so the tests see what the server sees. */
function wireQuery(packet: Packet): Buffer {
  return dnsPacket.encode({ type: "query", id: 4321, flags: dnsPacket.RECURSION_DESIRED, ...packet });
}

function query(name: string, type: string, extra: Partial<Packet> = {}): DnsQuery {
  const questions = [{ name, type: type as RecordType, class: "IN" as const }];
  return dnsPacket.decode(wireQuery({ questions, ...extra })) as DnsQuery;
}

/** Run answerQuery and put the result through the wire, like the server does. */
function ask(q: DnsQuery, src: RecordSource = records()): Decoded {
  const packet = answerQuery(q, src);
  return dnsPacket.decode(dnsPacket.encode(packet)) as Decoded;
}

function soaOf(res: Decoded): Answer | undefined {
  return res.authorities?.find((a) => a.type === "SOA");
}

describe("answerQuery: NAME.vm", () => {
  it("A -> the VM's IPv4, TTL 5, authoritative, RD copied, RA clear", () => {
    const res = ask(query("dev.vm", "A"));
    assert.equal(res.rcode, "NOERROR");
    assert.equal(res.id, 4321);
    assert.equal(res.type, "response");
    assert.equal(res.flag_aa, true);
    assert.equal(res.flag_rd, true);
    assert.equal(res.flag_ra, false);
    assert.deepEqual(res.answers, [
      { name: "dev.vm", type: "A", ttl: DNS_TTL, class: "IN", flush: false, data: "172.30.0.2" },
    ]);
    assert.equal(DNS_TTL, 5);
    assert.deepEqual(res.questions, [{ name: "dev.vm", type: "A", class: "IN" }]);
  });

  it("RD clear in the query stays clear", () => {
    const res = ask(query("dev.vm", "A", { flags: 0 }));
    assert.equal(res.flag_rd, false);
    assert.equal(res.answers?.length, 1);
  });

  it("matches any letter case and answers the name as asked (0x20)", () => {
    const res = ask(query("DeV.vM", "A"));
    assert.equal(res.answers?.[0]?.name, "DeV.vM");
    assert.equal(firstData(res), "172.30.0.2");
    assert.equal(res.questions?.[0]?.name, "DeV.vM");
  });

  it("ANY -> the A record", () => {
    const res = ask(query("web.vm", "ANY"));
    assert.equal(res.rcode, "NOERROR");
    assert.deepEqual(
      res.answers?.map((a) => [a.type, (a as { data: string }).data]),
      [["A", "172.30.0.3"]],
    );
  });

  for (const type of ["AAAA", "MX", "TXT", "CNAME", "SRV", "UNKNOWN_999"]) {
    it(`${type} -> NODATA: NOERROR, no answers, the SOA for negative caching`, () => {
      const res = ask(query("dev.vm", type));
      assert.equal(res.rcode, "NOERROR");
      assert.equal(res.flag_aa, true);
      assert.deepEqual(res.answers, []);
      const soa = soaOf(res) as { name: string; ttl: number; data: { minimum: number } };
      assert.equal(soa.name, "vm");
      assert.equal(soa.ttl, 5);
      assert.equal(soa.data.minimum, 5);
    });
  }

  it("an unknown name -> NXDOMAIN with the SOA, whatever the type", () => {
    for (const type of ["A", "AAAA", "ANY"]) {
      const res = ask(query("nope.vm", type));
      assert.equal(res.rcode, "NXDOMAIN", type);
      assert.equal(res.flag_aa, true);
      assert.deepEqual(res.answers, []);
      assert.ok(soaOf(res));
    }
  });

  it("a name below a VM name -> NXDOMAIN (no wildcards)", () => {
    const res = ask(query("x.dev.vm", "A"));
    assert.equal(res.rcode, "NXDOMAIN");
  });

  it("the SOA owner keeps the asked case and the serial follows record changes", () => {
    const src = records();
    const before = soaOf(ask(query("NOPE.VM", "A"), src)) as { name: string; data: { serial: number } };
    assert.equal(before.name, "VM");
    src.set("new", "172.30.0.9");
    const afterSet = soaOf(ask(query("nope.vm", "A"), src)) as { data: { serial: number } };
    assert.ok(afterSet.data.serial > before.data.serial);
  });

  it("a record change is visible to the next query", () => {
    const src = records();
    assert.equal(ask(query("late.vm", "A"), src).rcode, "NXDOMAIN");
    src.set("late", "172.30.0.7");
    assert.equal(firstData(ask(query("late.vm", "A"), src)), "172.30.0.7");
    src.delete("late");
    assert.equal(ask(query("late.vm", "A"), src).rcode, "NXDOMAIN");
  });
});

describe("answerQuery: the zone apex vm.", () => {
  it("SOA", () => {
    const res = ask(query("vm", "SOA"));
    assert.equal(res.rcode, "NOERROR");
    assert.equal(res.flag_aa, true);
    const soa = res.answers?.[0] as SoaAnswer;
    assert.equal(soa.type, "SOA");
    assert.equal(soa.name, "vm");
    assert.equal(soa.ttl, 5);
    assert.equal(soa.data.mname, "localhost");
    assert.equal(soa.data.minimum, 5);
  });
  it("NS", () => {
    const res = ask(query("vm", "NS"));
    assert.deepEqual(
      res.answers?.map((a) => [a.type, a.name, (a as { data: string }).data]),
      [["NS", "vm", "localhost"]],
    );
  });
  it("ANY -> SOA and NS", () => {
    assert.deepEqual(
      ask(query("vm", "ANY")).answers?.map((a) => a.type),
      ["SOA", "NS"],
    );
  });
  it("A at the apex -> NODATA with the SOA", () => {
    const res = ask(query("vm", "A"));
    assert.equal(res.rcode, "NOERROR");
    assert.deepEqual(res.answers, []);
    assert.ok(soaOf(res));
  });
  it("zone transfers are refused", () => {
    assert.equal(ask(query("vm", "AXFR")).rcode, "REFUSED");
  });
});

describe("answerQuery: outside the zone and odd queries", () => {
  for (const name of ["example.com", "vm.example.com", "notvm", "xvm", "."]) {
    it(`${name} -> REFUSED, not authoritative, question echoed`, () => {
      const res = ask(query(name, "A"));
      assert.equal(res.rcode, "REFUSED");
      assert.equal(res.flag_aa, false);
      assert.equal(res.flag_ra, false);
      assert.deepEqual(res.answers, []);
      assert.equal(res.questions?.length, 1);
    });
  }

  it("class CH -> REFUSED", () => {
    const q = dnsPacket.decode(
      wireQuery({ questions: [{ name: "dev.vm", type: "A", class: "CH" }] }),
    ) as DnsQuery;
    assert.equal(ask(q).rcode, "REFUSED");
  });

  it("class ANY is answered like IN", () => {
    const q = dnsPacket.decode(
      wireQuery({ questions: [{ name: "dev.vm", type: "A", class: "ANY" }] }),
    ) as DnsQuery;
    assert.equal(ask(q).answers?.length, 1);
  });

  it("several questions -> FORMERR (RFC 9619)", () => {
    const q = dnsPacket.decode(
      wireQuery({
        questions: [
          { name: "dev.vm", type: "A" },
          { name: "web.vm", type: "A" },
        ],
      }),
    ) as DnsQuery;
    const res = ask(q);
    assert.equal(res.rcode, "FORMERR");
    assert.deepEqual(res.answers, []);
  });

  it("no question -> FORMERR", () => {
    assert.equal(ask(dnsPacket.decode(wireQuery({ questions: [] })) as DnsQuery).rcode, "FORMERR");
  });

  for (const opcode of ["IQUERY", "STATUS", "NOTIFY", "UPDATE", "OPCODE_9"]) {
    it(`opcode ${opcode} -> NOTIMP with the opcode copied`, () => {
      const res = ask({ ...query("dev.vm", "A"), opcode });
      assert.equal(res.rcode, "NOTIMP");
      assert.equal(res.opcode, opcode);
      assert.deepEqual(res.answers, []);
    });
  }
});

describe("answerQuery: EDNS", () => {
  const opt = (extra: Record<string, unknown> = {}): Answer =>
    ({
      type: "OPT",
      name: ".",
      udpPayloadSize: 4096,
      flags: 0,
      ednsVersion: 0,
      ...extra,
    }) as unknown as Answer;

  it("an OPT in the query gets an OPT back (our UDP size, DO copied)", () => {
    const res = ask(query("dev.vm", "A", { additionals: [opt({ flags: dnsPacket.DNSSEC_OK })] }));
    const o = res.additionals?.find((a) => a.type === "OPT") as { udpPayloadSize: number; flag_do: boolean };
    assert.equal(o.udpPayloadSize, EDNS_UDP_SIZE);
    assert.equal(o.flag_do, true);
    assert.equal(res.answers?.length, 1);
  });

  it("no OPT in the query, none in the response", () => {
    assert.deepEqual(ask(query("dev.vm", "A")).additionals, []);
  });

  it("EDNS version 1 -> BADVERS", () => {
    const packet = answerQuery(query("dev.vm", "A", { additionals: [opt({ ednsVersion: 1 })] }), records());
    assert.equal(responseRcode(packet), Rcode.BADVERS);
    assert.deepEqual(packet.answers, []);
  });

  it("two OPT records -> FORMERR", () => {
    assert.equal(ask(query("dev.vm", "A", { additionals: [opt(), opt()] })).rcode, "FORMERR");
  });

  it("the UDP limit follows the client's OPT, between 512 and 1232", () => {
    assert.equal(maxUdpResponse(query("dev.vm", "A")), 512);
    assert.equal(maxUdpResponse(query("dev.vm", "A", { additionals: [opt({ udpPayloadSize: 100 })] })), 512);
    assert.equal(maxUdpResponse(query("dev.vm", "A", { additionals: [opt({ udpPayloadSize: 900 })] })), 900);
    assert.equal(maxUdpResponse(query("dev.vm", "A", { additionals: [opt()] })), 1232);
  });
});

describe("respond (the raw exchange)", () => {
  const decode = (b: Buffer | null): Decoded => dnsPacket.decode(b as Buffer) as Decoded;

  it("answers a good query", () => {
    const out = respond(wireQuery({ questions: [{ name: "dev.vm", type: "A" }] }), records(), {
      transport: "udp",
    });
    assert.equal(out.rcode, Rcode.NOERROR);
    assert.equal(out.question?.name, "dev.vm");
    assert.equal(firstData(decode(out.response)), "172.30.0.2");
  });

  it("copies the question bytes exactly (case, unknown class)", () => {
    const msg = wireQuery({ questions: [{ name: "dEv.Vm", type: "A" }] });
    msg.writeUInt16BE(0x00fe, msg.length - 2); // class 254 (NONE): refused, but echoed as sent
    const out = respond(msg, records(), { transport: "udp" });
    assert.equal(out.rcode, Rcode.REFUSED);
    const end = firstQuestionEnd(msg);
    assert.deepEqual(out.response?.subarray(12, end), msg.subarray(12, end));
  });

  it("stays silent for less than a header and for responses", () => {
    assert.equal(respond(Buffer.alloc(0), records(), { transport: "udp" }).response, null);
    assert.equal(respond(Buffer.from([1, 2, 3, 4, 5]), records(), { transport: "udp" }).response, null);
    const resp = dnsPacket.encode({ type: "response", id: 1, questions: [{ name: "dev.vm", type: "A" }] });
    assert.equal(respond(resp, records(), { transport: "udp" }).response, null);
  });

  it("FORMERR with the id when only the header can be read", () => {
    const msg = wireQuery({ questions: [{ name: "dev.vm", type: "A" }] }).subarray(0, 16);
    const out = respond(msg, records(), { transport: "tcp" });
    const res = decode(out.response);
    assert.equal(res.rcode, "FORMERR");
    assert.equal(res.id, 4321);
    assert.equal(res.flag_rd, true);
    assert.equal(res.questions?.length, 0);
  });

  it("FORMERR for a bare header announcing a question", () => {
    const hdr = Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(decode(respond(hdr, records(), { transport: "udp" }).response).rcode, "FORMERR");
  });

  it("NOTIMP for another opcode, even when the body is garbage", () => {
    const msg = Buffer.from([
      0x12, 0x34, 0x28, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0xad,
    ]);
    const res = decode(respond(msg, records(), { transport: "udp" }).response);
    assert.equal(res.rcode, "NOTIMP");
    assert.equal(res.opcode, "UPDATE");
    assert.equal(res.id, 0x1234);
  });

  it("never throws on random bytes", () => {
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    };
    for (let i = 0; i < 2000; i++) {
      const msg = Buffer.from(Array.from({ length: rand() % 80 }, rand));
      const out = respond(msg, records(), { transport: i % 2 ? "udp" : "tcp" });
      if (out.response) assert.ok(out.response.length >= 12);
    }
  });

  it("sets TC and drops the answers when a UDP response would not fit", () => {
    // answerQuery's own answers always fit in 512 bytes (one A record for a
    // one-label name); encodeResponse guards anything bigger all the same.
    const msg = wireQuery({ questions: [{ name: "dev.vm", type: "A" }] });
    const q = dnsPacket.decode(msg) as DnsQuery;
    const packet = answerQuery(q, records());
    const many: Answer[] = Array.from({ length: 40 }, (_, i) => ({
      type: "A",
      name: "dev.vm",
      ttl: 5,
      class: "IN",
      data: `10.0.0.${i}`,
    }));
    const big = { ...packet, answers: many };
    const udp = dnsPacket.decode(encodeResponse(big, msg, 512)) as Decoded;
    assert.equal(udp.flag_tc, true);
    assert.deepEqual(udp.answers, []);
    assert.equal(udp.questions?.[0]?.name, "dev.vm");
    const tcp = dnsPacket.decode(encodeResponse(big, msg, 0xffff)) as Decoded;
    assert.equal(tcp.flag_tc, false);
    assert.equal(tcp.answers?.length, 40);
  });
});
