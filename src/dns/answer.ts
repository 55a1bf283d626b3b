import dnsPacket, {
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type Packet,
  type Question,
} from "dns-packet";
import type { RecordSource } from "./records.js";

/** The zone banger answers for: NAME.vm. */
export const DNS_ZONE = "vm";
/** TTL of every record, and the negative-caching TTL (SOA minimum): VMs come and go. */
export const DNS_TTL = 5;
/** SOA MNAME and the NS target: like BIND's built-in empty zones. */
export const DNS_NAMESERVER = "localhost";
/** SOA RNAME (hostmaster mailbox). */
export const DNS_HOSTMASTER = "nobody.invalid";
/** The UDP payload size we advertise with EDNS (the DNS flag day 2020 value). */
export const EDNS_UDP_SIZE = 1232;
/** Largest UDP response for a query without EDNS (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (EDNS) rcode 16: carried as 1 in the OPT record, 0 in the header. */
  BADVERS: 16,
} as const;

/** Opcode names as dns-packet decodes them. */
const QUERY_OPCODE = "QUERY";
const OPCODE_NUMBERS: Record<string, number> = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 };
const CD_FLAG = dnsPacket.CHECKING_DISABLED;
const DO_FLAG = dnsPacket.DNSSEC_OK;

/** A decoded query as dns-packet returns it (it also decodes the opcode). */
export type DnsQuery = DecodedPacket & { opcode?: string };

/** The number of an opcode name from dns-packet ("OPCODE_7" -> 7). */
export function opcodeNumber(name: string | undefined): number {
  if (name === undefined) return 0;
  const known = OPCODE_NUMBERS[name];
  if (known !== undefined) return known;
  const m = /^OPCODE_(\d+)$/.exec(name);
  return m ? Number(m[1]) & 0xf : 0;
}

interface Reply {
  rcode: number;
  aa: boolean;
  answers?: Answer[];
  authorities?: Answer[];
}

/** The zone apex in the letter case the client used (0x20), e.g. "Vm". */
function apexAsAsked(qname: string): string {
  return qname.slice(qname.length - DNS_ZONE.length);
}

function soaRecord(apex: string, records: RecordSource): Answer {
  return {
    type: "SOA",
    name: apex,
    ttl: DNS_TTL,
    class: "IN",
    data: {
      mname: DNS_NAMESERVER,
      rname: DNS_HOSTMASTER,
      serial: records.serial >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: DNS_TTL,
    },
  };
}

function nsRecord(apex: string): Answer {
  return { type: "NS", name: apex, ttl: DNS_TTL, class: "IN", data: DNS_NAMESERVER };
}

/** The answer for a name inside the zone (class IN already checked). */
function answerInZone(q: Question, records: RecordSource): Reply {
  const lower = q.name.toLowerCase();
  const apex = apexAsAsked(q.name);
  const soa = soaRecord(apex, records);
  // dns-packet's RecordType lacks "ANY" and "UNKNOWN_n", which it does decode.
  const type: string = q.type;
  if (type === "AXFR" || type === "IXFR") return { rcode: Rcode.REFUSED, aa: false };
  if (lower === DNS_ZONE) {
    if (type === "SOA") return { rcode: Rcode.NOERROR, aa: true, answers: [soa] };
    if (type === "NS") return { rcode: Rcode.NOERROR, aa: true, answers: [nsRecord(apex)] };
    if (type === "ANY") return { rcode: Rcode.NOERROR, aa: true, answers: [soa, nsRecord(apex)] };
    return { rcode: Rcode.NOERROR, aa: true, authorities: [soa] };
  }
  const label = lower.slice(0, -(DNS_ZONE.length + 1));
  const ip = label.includes(".") ? undefined : records.get(label);
  if (ip === undefined) return { rcode: Rcode.NXDOMAIN, aa: true, authorities: [soa] };
  if (type === "A" || type === "ANY") {
    return {
      rcode: Rcode.NOERROR,
      aa: true,
      answers: [{ type: "A", name: q.name, ttl: DNS_TTL, class: "IN", data: ip }],
    };
  }
  return { rcode: Rcode.NOERROR, aa: true, authorities: [soa] };
}

function inZone(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === DNS_ZONE || lower.endsWith(`.${DNS_ZONE}`);
}

function answerQuestion(q: Question, records: RecordSource): Reply {
  const klass = q.class ?? "IN";
  if (!inZone(q.name) || (klass !== "IN" && klass !== "ANY")) return { rcode: Rcode.REFUSED, aa: false };
  return answerInZone(q, records);
}

function optRecords(query: DnsQuery): OptAnswer[] {
  return (query.additionals ?? []).filter((a): a is OptAnswer => a.type === "OPT");
}

function responseOpt(query: OptAnswer, rcode: number): OptAnswer {
  return {
    type: "OPT",
    name: ".",
    udpPayloadSize: EDNS_UDP_SIZE,
    extendedRcode: rcode >> 4,
    ednsVersion: 0,
    flags: query.flags & DO_FLAG,
    flag_do: query.flag_do,
    options: [],
  };
}

function build(query: DnsQuery, reply: Reply, questions: Question[], opt: OptAnswer | undefined): Packet {
  const opcode = opcodeNumber(query.opcode);
  const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  const cd = (query.flags ?? 0) & CD_FLAG;
  const aa = reply.aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0;
  return {
    type: "response",
    id: query.id ?? 0,
    flags: (opcode << 11) | aa | rd | cd | (reply.rcode & 0xf),
    questions,
    answers: reply.answers ?? [],
    authorities: reply.authorities ?? [],
    additionals: opt ? [responseOpt(opt, reply.rcode)] : [],
  };
}

/**
 * The response to one decoded query. Pure: reads `records`, nothing else.
 * The RA flag is never set (we do not recurse); RD and CD are copied.
 */
export function answerQuery(query: DnsQuery, records: RecordSource): Packet {
  const questions = query.questions ?? [];
  if ((query.opcode ?? QUERY_OPCODE) !== QUERY_OPCODE) {
    // RFC 1035 4.1.1: NOTIMP for a kind of query we do not support.
    return build(query, { rcode: Rcode.NOTIMP, aa: false }, [], undefined);
  }
  const opts = optRecords(query);
  // RFC 6891 6.1.1: more than one OPT is FORMERR.
  if (opts.length > 1) return build(query, { rcode: Rcode.FORMERR, aa: false }, [], undefined);
  const opt = opts[0];
  // RFC 9619: a QUERY must carry exactly one question, otherwise FORMERR.
  if (questions.length !== 1) return build(query, { rcode: Rcode.FORMERR, aa: false }, [], opt);
  if (opt !== undefined && opt.ednsVersion > 0) {
    return build(query, { rcode: Rcode.BADVERS, aa: false }, questions, opt);
  }
  const q = questions[0] as Question;
  return build(query, answerQuestion(q, records), [q], opt);
}

/** The largest UDP response the client accepts. */
export function maxUdpResponse(query: DnsQuery): number {
  const opt = optRecords(query)[0];
  if (opt === undefined) return CLASSIC_UDP_SIZE;
  return Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE);
}

/** A header-only response (id, opcode and RD copied) for a query we cannot decode further. */
export function headerOnlyResponse(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  const flags = query.readUInt16BE(2);
  // QR=1, the query's opcode and RD, the rcode; AA, TC, RA, Z, AD, CD clear.
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  out.writeUInt16BE(0x8000 | (flags & 0x7800) | (flags & 0x0100) | (rcode & 0xf), 2);
  return out;
}

/**
 * End offset of the first question in a raw message, or -1 when it does not
 * fit or its name uses a compression pointer (which cannot be copied as is).
 */
export function firstQuestionEnd(msg: Buffer): number {
  let off = 12;
  for (;;) {
    const len = msg[off];
    if (len === undefined || (len & 0xc0) !== 0) return -1;
    off += 1 + len;
    if (len === 0) break;
  }
  return off + 4 <= msg.length ? off + 4 : -1;
}

/** The full rcode of a response packet: header bits plus the OPT's extended bits. */
export function responseRcode(packet: Packet): number {
  const opt = (packet.additionals ?? []).find((a): a is OptAnswer => a.type === "OPT");
  return ((packet.flags ?? 0) & 0xf) | ((opt?.extendedRcode ?? 0) << 4);
}

export interface WireOptions {
  /** "udp" truncates to what the client accepts; "tcp" allows 65535 bytes. */
  transport: "udp" | "tcp";
}

/** What the server sends back for one message: the bytes, or null to stay silent. */
export interface WireResult {
  response: Buffer | null;
  /** The rcode sent (for logs); null when nothing is sent. */
  rcode: number | null;
  /** The question as decoded, for logs. */
  question?: Question;
}

/**
 * The whole exchange for one raw message, pure: header checks, decode,
 * answerQuery, encode, UDP truncation. Never throws.
 */
export function respond(msg: Buffer, records: RecordSource, opts: WireOptions): WireResult {
  // Shorter than a header: there is no id to answer to.
  if (msg.length < 12) return { response: null, rcode: null };
  // A response (QR=1) is never answered: no loops between servers.
  if ((msg.readUInt16BE(2) & 0x8000) !== 0) return { response: null, rcode: null };
  const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
  if (opcode !== 0) return { response: headerOnlyResponse(msg, Rcode.NOTIMP), rcode: Rcode.NOTIMP };
  let query: DnsQuery;
  try {
    query = dnsPacket.decode(msg) as DnsQuery;
  } catch {
    return { response: headerOnlyResponse(msg, Rcode.FORMERR), rcode: Rcode.FORMERR };
  }
  try {
    const packet = answerQuery(query, records);
    const limit = opts.transport === "udp" ? maxUdpResponse(query) : 0xffff;
    const response = encodeResponse(packet, msg, limit);
    const question = query.questions?.[0];
    return { response, rcode: responseRcode(packet), ...(question ? { question } : {}) };
  } catch {
    return { response: headerOnlyResponse(msg, Rcode.SERVFAIL), rcode: Rcode.SERVFAIL };
  }
}

/**
 * Encode a response, copying the question bytes from the query so the name
 * comes back exactly as asked (letter case, odd bytes, unknown classes).
 * Over `limit` bytes: TC set, answer and authority sections dropped.
 */
export function encodeResponse(packet: Packet, query: Buffer, limit: number): Buffer {
  const questions = packet.questions ?? [];
  const qEnd = questions.length === 1 ? firstQuestionEnd(query) : -1;
  let out = spliceQuestion(packet, query, qEnd);
  if (out.length > limit) {
    const flags = (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE;
    out = spliceQuestion({ ...packet, flags, answers: [], authorities: [] }, query, qEnd);
  }
  return out;
}

function spliceQuestion(packet: Packet, query: Buffer, qEnd: number): Buffer {
  if (qEnd < 0) return dnsPacket.encode(packet);
  const rest = dnsPacket.encode({ ...packet, questions: [] });
  const head = Buffer.from(rest.subarray(0, 12));
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, query.subarray(12, qEnd), rest.subarray(12)]);
}
