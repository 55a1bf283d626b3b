/**
 * Probes and canaries for the firewall tests, run inside a network namespace
 * (`ip netns exec NS node firewallProbe.js MODE JSON`):
 *   serve  [{proto, host, port, label}]  answers every TCP connection and UDP
 *          datagram with `canary:<label>`; prints "ready" when all listen.
 *   dns    {host, port, zone: {name: ipv4}}  a tiny upstream DNS server: A records
 *          from the zone (TTL 5), NXDOMAIN otherwise; prints "ready".
 *   probe  [{proto, host, port, from?}]  prints one JSON line: for each probe,
 *          what it saw: "canary:<label>", "timeout", "refused", "error:<code>".
 * A probe that could not run prints an error, never "timeout", so a broken
 * probe is never mistaken for a blocked one.
 */
import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";

export interface Listener {
  proto: "tcp" | "udp";
  host: string;
  port: number;
  label: string;
}

export interface Probe {
  proto: "tcp" | "udp";
  host: string;
  port: number;
  /** Source address to bind (spoofing tests). */
  from?: string;
}

const TIMEOUT_MS = 1500;

function serve(list: Listener[]): void {
  let pending = list.length;
  const ready = () => {
    pending--;
    if (pending === 0) process.stdout.write("ready\n");
  };
  for (const l of list) {
    const reply = Buffer.from(`canary:${l.label}`);
    if (l.proto === "tcp") {
      const s = net.createServer((c) => {
        c.on("error", () => undefined);
        c.end(reply);
      });
      s.listen({ host: l.host, port: l.port }, ready);
    } else {
      const u = dgram.createSocket(net.isIPv6(l.host) ? "udp6" : "udp4");
      u.on("message", (_m, r) => u.send(reply, r.port, r.address));
      u.bind(l.port, l.host, ready);
    }
  }
}

function probeTcp(p: Probe): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const s = net.connect({ host: p.host, port: p.port, ...(p.from ? { localAddress: p.from } : {}) });
    const done = (v: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(data || "timeout"), TIMEOUT_MS);
    s.on("data", (d) => {
      data += d.toString();
    });
    s.on("end", () => done(data || "connected-no-data"));
    s.on("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "ECONNREFUSED" ? "refused" : `error:${e.code ?? e.message}`),
    );
  });
}

function probeUdp(p: Probe): Promise<string> {
  return new Promise((resolve) => {
    const u = dgram.createSocket(net.isIPv6(p.host) ? "udp6" : "udp4");
    const done = (v: string) => {
      clearTimeout(t);
      u.close();
      resolve(v);
    };
    const t = setTimeout(() => done("timeout"), TIMEOUT_MS);
    u.on("message", (m) => done(m.toString()));
    u.on("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "ECONNREFUSED" ? "refused" : `error:${e.code ?? e.message}`),
    );
    u.bind(0, p.from, () => u.send("probe", p.port, p.host));
  });
}

async function probe(list: Probe[]): Promise<void> {
  const out = await Promise.all(list.map((p) => (p.proto === "tcp" ? probeTcp(p) : probeUdp(p))));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function dns(o: { host: string; port: number; zone: Record<string, string> }): void {
  const u = dgram.createSocket("udp4");
  u.on("message", (m, r) => {
    const q = dnsPacket.decode(m);
    const name = (q.questions?.[0]?.name ?? "").toLowerCase();
    const ip = o.zone[name];
    const res = dnsPacket.encode({
      type: "response",
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
      questions: q.questions ?? [],
      answers: ip && q.questions?.[0]?.type === "A" ? [{ type: "A", name, ttl: 5, data: ip }] : [],
    });
    u.send(res, r.port, r.address);
  });
  u.bind(o.port, o.host, () => process.stdout.write("ready\n"));
}

const [, , mode, arg] = process.argv;
if (mode === "dns")
  dns(JSON.parse(arg ?? "{}") as { host: string; port: number; zone: Record<string, string> });
if (mode === "serve") serve(JSON.parse(arg ?? "[]") as Listener[]);
else if (mode === "probe") void probe(JSON.parse(arg ?? "[]") as Probe[]);
