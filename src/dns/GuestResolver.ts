/**
 * The resolver guests use: the daemon listens on gateway:guest_dns_port
 * (guests' port 53 on the gateway is redirected here by nft) and answers by
 * the querying VM's egress policy: NAME.vm always (from the same records as
 * the host's DNS server); none: nothing else (NXDOMAIN); public: forwarded
 * upstream; allow: allowed names forwarded, the answered A records put into
 * the VM's nft set (through the firewall) BEFORE the answer is sent, other
 * names NXDOMAIN. A source that is not a running VM is REFUSED.
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import dnsPacket, { type Packet } from "dns-packet";
import type { VmEgress } from "../model/vm.js";
import { domainAllowed } from "../services/network/firewall/egress.js";
import { DNS_ZONE, type DnsQuery, headerOnlyResponse, Rcode, respond } from "./answer.js";
import type { DnsLog } from "./DnsServer.js";
import type { RecordSource } from "./records.js";

export type GuestPolicy = Pick<VmEgress, "mode" | "domains">;
export interface Upstream {
  host: string;
  port: number;
}

export interface GuestResolverOptions {
  records: RecordSource;
  /** The policy of the VM with this source address; undefined when it is not a running VM. */
  policyFor(ip: string): GuestPolicy | undefined;
  upstreams(): Upstream[];
  /** Put answered addresses into the VM's allow set; resolves once they are in force. */
  allow(vmIp: string, add: Array<{ ip: string; ttlS: number }>): Promise<void>;
  log?: DnsLog;
  /** Per upstream. Default 2000 ms. */
  timeoutMs?: number;
}

export type Decision = "local" | "forward" | "nxdomain" | "refused";

/** What to do with one question from a VM with this policy (undefined: not a VM). */
export function decide(qname: string | undefined, policy: GuestPolicy | undefined): Decision {
  if (policy === undefined) return "refused";
  if (qname === undefined) return "local";
  const n = qname.toLowerCase().replace(/\.$/, "");
  if (n === DNS_ZONE || n.endsWith(`.${DNS_ZONE}`)) return "local";
  if (policy.mode === "public") return "forward";
  if (policy.mode === "allow" && domainAllowed(policy.domains, n)) return "forward";
  return "nxdomain";
}

/** The A records of an upstream answer, each with its TTL raised to at least `minTtl`. */
export function answeredAddresses(res: Packet, minTtl = 60): Array<{ ip: string; ttlS: number }> {
  return (res.answers ?? []).flatMap((a) =>
    a.type === "A" && typeof a.data === "string" ? [{ ip: a.data, ttlS: Math.max(minTtl, a.ttl ?? 0) }] : [],
  );
}

/** IPv4 nameservers of a resolv.conf text, port 53. */
export function resolvConfUpstreams(text: string): Upstream[] {
  return [...text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => ({
    host: m[1] as string,
    port: 53,
  }));
}

export function hostUpstreams(): Upstream[] {
  try {
    return resolvConfUpstreams(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return [];
  }
}

function nxdomain(query: DnsQuery): Buffer {
  return dnsPacket.encode({
    type: "response",
    id: query.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | Rcode.NXDOMAIN,
    questions: query.questions ?? [],
  });
}

export class GuestResolver {
  private udp: dgram.Socket | null = null;
  private tcp: Server | null = null;
  private bound: string | null = null;
  private readonly timeoutMs: number;

  constructor(private readonly o: GuestResolverOptions) {
    this.timeoutMs = o.timeoutMs ?? 2000;
  }

  get listening(): string | null {
    return this.bound;
  }

  async start(host: string, port: number): Promise<void> {
    if (this.bound) return;
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(port, host, () => resolve());
    });
    udp.on("error", (e) => this.o.log?.warn({ err: e }, "guest dns: udp error"));
    udp.on("message", (msg, r) => {
      void this.answer(msg, r.address, "udp").then((out) => out && udp.send(out, r.port, r.address));
    });
    const tcp = createServer((sock) => this.onTcp(sock));
    tcp.maxConnections = 64;
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen({ host, port, exclusive: true }, () => resolve());
    }).catch((e: unknown) => {
      udp.close();
      throw e;
    });
    this.udp = udp;
    this.tcp = tcp;
    this.bound = `${host}:${port}`;
  }

  async stop(): Promise<void> {
    const { udp, tcp } = this;
    this.udp = null;
    this.tcp = null;
    this.bound = null;
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  private onTcp(sock: import("node:net").Socket): void {
    const peer = sock.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.answer(Buffer.from(msg), peer, "tcp").then((out) => {
          if (!out || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        });
      }
      if (buf.length > 4096) sock.destroy();
    });
  }

  /** The bytes to send back for one message from `src`, or null to stay silent. Never throws. */
  async answer(msg: Buffer, src: string, transport: "udp" | "tcp"): Promise<Buffer | null> {
    if (msg.length < 12 || (msg.readUInt16BE(2) & 0x8000) !== 0) return null;
    let query: DnsQuery;
    try {
      query = dnsPacket.decode(msg) as DnsQuery;
    } catch {
      return headerOnlyResponse(msg, Rcode.FORMERR);
    }
    const policy = this.o.policyFor(src);
    const qname = query.questions?.length === 1 ? query.questions[0]?.name : undefined;
    const d = decide(qname, policy);
    this.o.log?.debug({ src, qname, decision: d }, "guest dns: query");
    try {
      if (d === "refused") return headerOnlyResponse(msg, Rcode.REFUSED);
      if (d === "local") return respond(msg, this.o.records, { transport }).response;
      if (d === "nxdomain") return nxdomain(query);
      const res = await this.forward(msg);
      if (res === null) return headerOnlyResponse(msg, Rcode.SERVFAIL);
      if (policy?.mode === "allow") {
        const add = answeredAddresses(dnsPacket.decode(res));
        if (add.length > 0) await this.o.allow(src, add);
      }
      return res;
    } catch (e) {
      this.o.log?.warn({ src, qname, err: (e as Error).message }, "guest dns: failed");
      return headerOnlyResponse(msg, Rcode.SERVFAIL);
    }
  }

  /** The first upstream's answer to the raw query (same id), or null when none answers in time. */
  private async forward(msg: Buffer): Promise<Buffer | null> {
    for (const up of this.o.upstreams()) {
      const res = await udpExchange(msg, up, this.timeoutMs).catch(() => null);
      if (res !== null) return res;
    }
    return null;
  }
}

function udpExchange(msg: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    const done = (v: Buffer | null) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on("error", () => done(null));
    s.on("message", (res, r) => {
      if (r.address === up.host && res.length >= 12 && res.readUInt16BE(0) === msg.readUInt16BE(0)) done(res);
    });
    s.send(msg, up.port, up.host);
  });
}
