/**
 * Test double: an in-process guest agent speaking the line protocol on a Unix
 * socket, optionally behind Firecracker's `CONNECT <port>` handshake.
 *
 * Commands it "runs": `echo ARGS...`, `fail CODE` (stderr, exit CODE), `cat`
 * (echoes stdin until stdin-eof), `sleep` (until killed: 128+signal),
 * `stubborn` (ignores SIGTERM), `pwd-env` (prints cwd and env as JSON);
 * anything else: `ID error cannot run X`.
 *
 * With `version` 3 or more it also answers `sync` and `identity` (decoded and
 * checked as the agent would, kept in `identities`; `identityError` fails it).
 */
import net from "node:net";
import type { GuestHealth } from "../../api/agent.js";
import { decodeIdentity, type Identity } from "./identity.js";
import { AGENT_V3, AGENT_VSOCK_PORT, type AgentPort, fromB64, LineSplitter, toB64 } from "./protocol.js";

export interface FakeAgentOptions {
  socketPath: string;
  /** Expect `CONNECT 1024\n` first and answer `OK ...` (Firecracker's hybrid vsock). */
  firecracker?: boolean;
  /** Firecracker: close the connection after CONNECT, as when nothing listens in the guest. */
  refuseVsock?: boolean;
  /** Never answer anything (a guest still booting). */
  silent?: boolean;
  health?: GuestHealth;
  ports?: AgentPort[];
  /** What ping answers, and which verbs exist (3: sync and identity). Default 1. */
  version?: number;
  /** Answer a valid identity request with this error instead of ok. */
  identityError?: string;
}

export const FAKE_HEALTH: GuestHealth = {
  uptimeSec: 12.5,
  load: [0.1, 0.05, 0],
  memory: { totalBytes: 512 * 1024 * 1024, availableBytes: 400 * 1024 * 1024 },
  disks: [
    { mount: "/", totalBytes: 64 * 1024 * 1024, usedBytes: 12 * 1024 * 1024 },
    { mount: "/root", totalBytes: 8 * 1024 ** 3, usedBytes: 1024 * 1024 },
  ],
};

const text = (f: string) => (f === "-" ? "" : (fromB64(f)?.toString("utf8") ?? "\0bad"));

interface Running {
  argv: string[];
  ignoreTerm: boolean;
  stdinEcho: boolean;
}

export class FakeAgent {
  /** Every request line received (handshake lines excluded). */
  readonly lines: string[] = [];
  /** Every identity request that was valid, decoded. */
  readonly identities: Identity[] = [];
  syncs = 0;
  connections = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly opts: FakeAgentOptions,
  ) {}

  static start(opts: FakeAgentOptions): Promise<FakeAgent> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      const agent = new FakeAgent(server, opts);
      server.on("connection", (s) => agent.serve(s));
      server.once("error", reject);
      server.listen(opts.socketPath, () => resolve(agent));
    });
  }

  /** Write raw text to every connection (garbage, stale replies). */
  inject(raw: string): void {
    for (const s of this.sockets) s.write(raw);
  }

  /** Drop every connection, as a stopping VMM would. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  stop(): Promise<void> {
    this.dropConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    const splitter = new LineSplitter();
    const running = new Map<string, Running>();
    let handshaken = !this.opts.firecracker;
    socket.on("data", (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        if (!handshaken) {
          if (line !== `CONNECT ${AGENT_VSOCK_PORT}` || this.opts.refuseVsock) socket.destroy();
          else socket.write("OK 1073741824\n");
          handshaken = true;
          continue;
        }
        this.lines.push(line);
        if (this.opts.silent) continue;
        for (const reply of this.answer(line, running)) socket.write(`${reply}\n`);
      }
    });
  }

  /** The reply lines to one request line. */
  private answer(line: string, running: Map<string, Running>): string[] {
    const [id = "0", verb = "", ...rest] = line.split(" ");
    const r = running.get(id);
    const finish = (code: number) => {
      running.delete(id);
      return [`${id} exit ${code}`];
    };
    const v3 = (this.opts.version ?? 1) >= AGENT_V3;
    switch (v3 || (verb !== "sync" && verb !== "identity") ? verb : "") {
      case "ping":
        return [`${id} pong ${this.opts.version ?? 1}`];
      case "sync":
        this.syncs++;
        return rest.length === 0 ? [`${id} ok -`] : [`${id} error ${toB64("unknown or malformed request")}`];
      case "identity":
        return [this.identity(id, rest)];
      case "health":
        return [`${id} health ${JSON.stringify(this.opts.health ?? FAKE_HEALTH)}`];
      case "ports":
        return [`${id} ports ${JSON.stringify(this.opts.ports ?? [])}`];
      case "exec":
        return this.exec(id, rest, running);
      case "stdin":
        return r?.stdinEcho ? [`${id} out ${rest[0]}`] : [];
      case "stdin-eof":
        return r?.stdinEcho ? finish(0) : [];
      case "kill": {
        const sig = Number(rest[0]);
        return r && !(r.ignoreTerm && sig === 15) ? finish(128 + sig) : [];
      }
      default:
        return [`${/^\d+$/.test(id) ? id : "0"} error ${toB64("unknown or malformed request")}`];
    }
  }

  private identity(id: string, fields: string[]): string {
    const idn = decodeIdentity(fields);
    if (typeof idn === "string") return `${id} error ${toB64(idn)}`;
    if (this.opts.identityError) return `${id} error ${toB64(this.opts.identityError)}`;
    this.identities.push(idn);
    return `${id} ok -`;
  }

  private exec(id: string, fields: string[], running: Map<string, Running>): string[] {
    const [cwdField = "-", nenvField = "0", ...more] = fields;
    const nenv = Number(nenvField);
    const env = more.slice(0, nenv).map(text);
    const argv = more.slice(nenv).map(text);
    const out = (s: string) => `${id} out ${toB64(s)}`;
    switch (argv[0]) {
      case "echo":
        return [out(`${argv.slice(1).join(" ")}\n`), `${id} exit 0`];
      case "fail":
        return [`${id} err ${toB64("failing\n")}`, `${id} exit ${Number(argv[1] ?? 1)}`];
      case "pwd-env":
        return [out(JSON.stringify({ cwd: text(cwdField) || "/root", env, argv })), `${id} exit 0`];
      case "cat":
      case "sleep":
      case "stubborn":
        running.set(id, { argv, ignoreTerm: argv[0] === "stubborn", stdinEcho: argv[0] === "cat" });
        return [];
      default:
        return [`${id} error ${toB64(`cannot run ${argv[0]}: No such file or directory`)}`];
    }
  }
}
