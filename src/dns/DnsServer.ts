import dgram from "node:dgram";
import { createServer, isIPv4, isIPv6, type Server, type Socket } from "node:net";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { respond, type WireResult } from "./answer.js";
import type { RecordSource } from "./records.js";

/** The part of a pino logger the server uses. */
export interface DnsLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DnsServerOptions {
  records: RecordSource;
  log?: DnsLog;
  /** A TCP connection with no traffic for this long is closed (RFC 7766 suggests seconds). */
  tcpIdleMs?: number;
  /** Open TCP connections at most; more are refused by the kernel accept path. */
  maxTcpConnections?: number;
  /** A TCP message announcing more than this many bytes closes the connection. */
  maxTcpMessage?: number;
}

export interface DnsStatus {
  /** The bound host:port while running, else null. */
  listen: string | null;
  udp: boolean;
  tcp: boolean;
  /** Messages received since start (UDP and TCP, malformed ones included). */
  queries: number;
  records: number;
}

export const DNS_LISTEN_KEY = "[dns] listen";
const DEFAULT_TCP_IDLE_MS = 10_000;
const DEFAULT_MAX_TCP_CONNECTIONS = 64;
/** Queries are small; 4 KiB leaves room for EDNS options and padding. */
const DEFAULT_MAX_TCP_MESSAGE = 4096;
/** A client that does not read its answers is dropped past this many unsent bytes. */
const MAX_TCP_UNSENT = 256 * 1024;
/** Binding port 0 picks a UDP port that TCP might not get; try a few. */
const EPHEMERAL_ATTEMPTS = 10;

const silentLog: DnsLog = { debug() {}, warn() {} };

/** Split "host:port" or "[v6]:port"; the host must be an IP literal, port 0..65535. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  const host = m?.[1] ?? "";
  const port = Number(m?.[2] ?? Number.NaN);
  const hostOk = m?.[0].startsWith("[") ? isIPv6(host) : isIPv4(host);
  if (!m || !hostOk || !Number.isInteger(port) || port > 65535) {
    throw new BangerError(ErrorCodes.CONFIG_INVALID, `DNS listen address "${listen}" is not IP:PORT`, {
      hint: `set ${DNS_LISTEN_KEY} in config.toml to an address and port such as "127.0.0.1:42069"`,
    });
  }
  return { host, port };
}

function formatAddress(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function bindError(e: unknown, proto: string, address: string): BangerError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why: Record<string, [string, string]> = {
    EADDRINUSE: ["address already in use", "another program (or another bangerd) listens there"],
    EACCES: ["permission denied", "ports below 1024 need privileges bangerd does not have"],
    EADDRNOTAVAIL: ["address not available", "the IP is not assigned to any interface of this host"],
  };
  const [reason, cause] = why[code ?? ""] ?? [
    (e as Error | undefined)?.message ?? String(e),
    "see the cause",
  ];
  return new BangerError(
    ErrorCodes.PREFLIGHT_FAILED,
    `DNS server cannot listen on ${address} (${proto}): ${reason}`,
    {
      hint: `${cause}; set ${DNS_LISTEN_KEY} in config.toml to a free address, for example "127.0.0.1:42069"`,
      cause: e,
    },
  );
}

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
    const onError = (e: Error): void => {
      sock.close();
      reject(e);
    };
    sock.once("error", onError);
    sock.bind(port, host, () => {
      sock.off("error", onError);
      resolve(sock);
    });
  });
}

function bindTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Authoritative DNS for NAME.vm over UDP and TCP on one address. */
export class DnsServer {
  private readonly records: RecordSource;
  private readonly log: DnsLog;
  private readonly tcpIdleMs: number;
  private readonly maxTcpConnections: number;
  private readonly maxTcpMessage: number;
  private udp: dgram.Socket | null = null;
  private tcp: Server | null = null;
  private readonly conns = new Set<Socket>();
  private bound: string | null = null;
  private queries = 0;

  constructor(opts: DnsServerOptions) {
    this.records = opts.records;
    this.log = opts.log ?? silentLog;
    this.tcpIdleMs = opts.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS;
    this.maxTcpConnections = opts.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS;
    this.maxTcpMessage = opts.maxTcpMessage ?? DEFAULT_MAX_TCP_MESSAGE;
  }

  /** Bind UDP and TCP on `listen` ("127.0.0.1:0" picks a free port); returns the bound host:port. */
  async start(listen: string): Promise<string> {
    if (this.bound !== null) {
      throw new BangerError(ErrorCodes.CONFLICT, `the DNS server already listens on ${this.bound}`);
    }
    const { host, port } = parseListen(listen);
    const attempts = port === 0 ? EPHEMERAL_ATTEMPTS : 1;
    for (let i = 1; ; i++) {
      const udp = await bindUdp(host, port).catch((e: unknown) => {
        throw bindError(e, "udp", listen);
      });
      const actual = udp.address().port;
      const tcp = this.makeTcpServer();
      try {
        await bindTcp(tcp, host, actual);
      } catch (e) {
        udp.close();
        tcp.close();
        if (i < attempts && (e as NodeJS.ErrnoException).code === "EADDRINUSE") continue;
        throw bindError(e, "tcp", formatAddress(host, actual));
      }
      this.attach(udp, tcp);
      this.bound = formatAddress(host, actual);
      return this.bound;
    }
  }

  /** Close both sockets and every open TCP connection. */
  async stop(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = null;
    this.tcp = null;
    this.bound = null;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  status(): DnsStatus {
    return {
      listen: this.bound,
      udp: this.udp !== null,
      tcp: this.tcp !== null,
      queries: this.queries,
      records: this.records.size,
    };
  }

  private attach(udp: dgram.Socket, tcp: Server): void {
    this.udp = udp;
    this.tcp = tcp;
    udp.on("error", (e) => this.log.warn({ err: e }, "dns: udp socket error"));
    tcp.on("error", (e) => this.log.warn({ err: e }, "dns: tcp server error"));
    udp.on("message", (msg, rinfo) => {
      try {
        const res = this.handle(msg, "udp", `${rinfo.address}:${rinfo.port}`);
        if (res.response) {
          udp.send(res.response, rinfo.port, rinfo.address, (e) => {
            if (e) this.log.debug({ err: e, peer: rinfo.address }, "dns: udp send failed");
          });
        }
      } catch (e) {
        this.log.warn({ err: e }, "dns: udp handler failed");
      }
    });
  }

  private makeTcpServer(): Server {
    const server = createServer((sock) => {
      try {
        this.onConnection(sock);
      } catch (e) {
        this.log.warn({ err: e }, "dns: tcp connection handler failed");
        sock.destroy();
      }
    });
    server.maxConnections = this.maxTcpConnections;
    return server;
  }

  private onConnection(sock: Socket): void {
    const peer = `${sock.remoteAddress}:${sock.remotePort}`;
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.tcpIdleMs, () => {
      this.log.debug({ peer }, "dns: tcp connection idle, closing");
      sock.destroy();
    });
    sock.on("error", (e) => this.log.debug({ err: e, peer }, "dns: tcp connection error"));
    sock.on("close", () => this.conns.delete(sock));
    let pending: Buffer = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      try {
        pending = this.onTcpData(sock, Buffer.concat([pending, chunk]), peer);
      } catch (e) {
        this.log.warn({ err: e, peer }, "dns: tcp handler failed");
        sock.destroy();
      }
    });
  }

  /** Answer every complete message in `buf`; returns the incomplete rest. */
  private onTcpData(sock: Socket, buf: Buffer, peer: string): Buffer {
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (len > this.maxTcpMessage) {
        this.log.debug({ peer, len }, "dns: tcp message too large, closing");
        sock.destroy();
        return Buffer.alloc(0);
      }
      if (buf.length - off - 2 < len) break;
      const msg = buf.subarray(off + 2, off + 2 + len);
      off += 2 + len;
      const res = this.handle(msg, "tcp", peer);
      if (res.response && !sock.destroyed) {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(res.response.length);
        sock.write(Buffer.concat([prefix, res.response]));
      }
      if (sock.writableLength > MAX_TCP_UNSENT) {
        this.log.debug({ peer }, "dns: tcp client does not read its answers, closing");
        sock.destroy();
        return Buffer.alloc(0);
      }
    }
    return Buffer.from(buf.subarray(off));
  }

  private handle(msg: Buffer, transport: "udp" | "tcp", peer: string): WireResult {
    this.queries++;
    const res = respond(msg, this.records, { transport });
    if (res.response === null) {
      this.log.debug({ peer, transport, bytes: msg.length }, "dns: message ignored");
    } else {
      const q = res.question;
      this.log.debug({ peer, transport, name: q?.name, type: q?.type, rcode: res.rcode }, "dns: query");
    }
    return res;
  }
}
