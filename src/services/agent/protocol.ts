/**
 * The guest agent's line protocol (data/guest/banger-agent.c), pure: encode
 * requests, parse replies. One message per line, fields split by one space,
 * binary data and text in base64; a text field `-` is the empty string.
 *
 * Requests: `ID ping`, `ID health`, `ID ports`,
 * `ID exec CWD NENV [K=V...] ARG0 [ARG...]`, `ID stdin DATA`, `ID stdin-eof`, `ID kill SIGNUM`.
 * Replies: `ID pong VERSION`, `ID health JSON`, `ID ports JSON`, `ID out DATA`,
 * `ID err DATA`, `ID exit CODE`, `ID error MSG` (`0 error MSG` when the request had no id).
 */
import type { GuestHealth, ListeningPort } from "../../api/agent.js";

/** The vsock port the agent listens on under Firecracker. */
export const AGENT_VSOCK_PORT = 1024;

/** The agent's longest accepted request line, in bytes (newline included). */
export const MAX_REQUEST_LINE = 1024 * 1024;

/** The longest reply line the client accepts. */
export const MAX_REPLY_LINE = 16 * 1024 * 1024;

/** Raw bytes per stdin request (base64 grows it by 4/3, well under MAX_REQUEST_LINE). */
export const STDIN_CHUNK_BYTES = 192 * 1024;

/** A listening socket as the agent reports it (the daemon adds the url). */
export type AgentPort = Omit<ListeningPort, "url">;

export type AgentReply =
  | { id: number; kind: "pong"; version: string }
  | { id: number; kind: "health"; health: GuestHealth }
  | { id: number; kind: "ports"; ports: AgentPort[] }
  | { id: number; kind: "out" | "err"; data: Buffer }
  | { id: number; kind: "exit"; code: number }
  | { id: number; kind: "error"; message: string };

/** A line that is not a valid reply; `id` when one could be read. */
export interface InvalidReply {
  kind: "invalid";
  id: number | null;
  reason: string;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toB64(data: string | Uint8Array): string {
  return (typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data)).toString("base64");
}

/** Strict base64 decode; undefined when `s` is not base64. */
export function fromB64(s: string): Buffer | undefined {
  return B64.test(s) ? Buffer.from(s, "base64") : undefined;
}

/** A text field: base64 of the UTF-8 text, `-` for the empty string. */
export function textField(s: string): string {
  return s === "" ? "-" : toB64(s);
}

export function encodeSimple(id: number, verb: "ping" | "health" | "ports" | "stdin-eof"): string {
  return `${id} ${verb}\n`;
}

export function encodeKill(id: number, signal: number): string {
  if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new RangeError(`bad signal ${signal}`);
  return `${id} kill ${signal}\n`;
}

export interface ExecRequest {
  argv: readonly string[];
  /** Working directory in the guest; empty or absent: /root. */
  cwd?: string;
  /** Added to the agent's default PATH, HOME=/root, TERM...; a key given again replaces it. */
  env?: Readonly<Record<string, string>>;
}

/** Throws a RangeError on an argv, env or line the agent would refuse. */
export function encodeExec(id: number, req: ExecRequest): string {
  if (req.argv.length === 0) throw new RangeError("exec needs a command");
  const env = Object.entries(req.env ?? {});
  for (const [k, v] of env) {
    if (k === "" || k.includes("=") || k.includes("\0") || v.includes("\0"))
      throw new RangeError(`bad environment variable ${JSON.stringify(k)}`);
  }
  for (const a of [...req.argv, req.cwd ?? ""]) {
    if (a.includes("\0")) throw new RangeError("exec arguments cannot hold NUL bytes");
  }
  const fields = [String(id), "exec", textField(req.cwd ?? ""), String(env.length)];
  for (const [k, v] of env) fields.push(toB64(`${k}=${v}`));
  for (const a of req.argv) fields.push(textField(a));
  const line = `${fields.join(" ")}\n`;
  if (Buffer.byteLength(line) > MAX_REQUEST_LINE) {
    throw new RangeError(`the command line is too long for the guest agent (over ${MAX_REQUEST_LINE} bytes)`);
  }
  return line;
}

/** stdin data as request lines of at most STDIN_CHUNK_BYTES each (none for empty data). */
export function encodeStdin(id: number, data: string | Uint8Array): string[] {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
  const out: string[] = [];
  for (let i = 0; i < buf.length; i += STDIN_CHUNK_BYTES) {
    out.push(`${id} stdin ${buf.subarray(i, i + STDIN_CHUNK_BYTES).toString("base64")}\n`);
  }
  return out;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

export function isGuestHealth(v: unknown): v is GuestHealth {
  if (!isObj(v) || !isNum(v.uptimeSec) || !isObj(v.memory) || !Array.isArray(v.disks)) return false;
  if (!Array.isArray(v.load) || v.load.length !== 3 || !v.load.every(isNum)) return false;
  if (!isNum(v.memory.totalBytes) || !isNum(v.memory.availableBytes)) return false;
  return v.disks.every(
    (d: unknown) =>
      isObj(d) && (d.mount === "/" || d.mount === "/root") && isNum(d.totalBytes) && isNum(d.usedBytes),
  );
}

function isAgentPort(v: unknown): v is AgentPort {
  return (
    isObj(v) &&
    (v.proto === "tcp" || v.proto === "tcp6") &&
    typeof v.address === "string" &&
    isNum(v.port) &&
    Number.isInteger(v.port)
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Parse one reply line (without its newline). */
export function parseReply(line: string): AgentReply | InvalidReply {
  const m = /^(\d{1,15}) ([a-z]+)(?: (.*))?$/.exec(line);
  if (!m) return { kind: "invalid", id: null, reason: "not a reply line" };
  const id = Number(m[1]);
  const kind = m[2]!;
  const rest = m[3] ?? "";
  const bad = (reason: string): InvalidReply => ({ kind: "invalid", id, reason });
  switch (kind) {
    case "pong":
      return rest ? { id, kind, version: rest } : bad("pong without a version");
    case "health": {
      const health = parseJson(rest);
      return isGuestHealth(health) ? { id, kind, health } : bad("health JSON of the wrong shape");
    }
    case "ports": {
      const ports = parseJson(rest);
      return Array.isArray(ports) && ports.every(isAgentPort)
        ? { id, kind, ports }
        : bad("ports JSON of the wrong shape");
    }
    case "out":
    case "err":
    case "error": {
      const data = fromB64(rest);
      if (!data || rest === "") return bad(`${kind} without base64 data`);
      return kind === "error" ? { id, kind, message: data.toString("utf8") } : { id, kind, data };
    }
    case "exit":
      return /^\d{1,3}$/.test(rest) ? { id, kind, code: Number(rest) } : bad("exit without a code");
    default:
      return bad(`unknown reply "${kind}"`);
  }
}

/** Splits a byte stream into lines; throws when a line grows past maxLine bytes. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxLine: number = MAX_REPLY_LINE) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.parts.push(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.parts).toString("utf8").replace(/\r$/, ""));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.size += chunk.length - start;
      if (this.size > this.maxLine) throw new RangeError(`a line is longer than ${this.maxLine} bytes`);
    }
    return lines;
  }
}

/** The Firecracker hybrid-vsock handshake: what the host writes, and whether the answer accepts it. */
export function vsockConnectLine(port: number = AGENT_VSOCK_PORT): string {
  return `CONNECT ${port}\n`;
}

export function isVsockOk(line: string): boolean {
  return line.startsWith("OK ");
}
