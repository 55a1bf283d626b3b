/**
 * The guest agent's line protocol (data/guest/banger-agent.c), pure: encode
 * requests, parse replies. One message per line, fields split by one space,
 * binary data and text in base64; a text field `-` is the empty string.
 *
 * Requests: `ID ping`, `ID health`, `ID ports`,
 * `ID exec CWD NENV [K=V...] ARG0 [ARG...]`, `ID stdin DATA`, `ID stdin-eof`, `ID kill SIGNUM`.
 * Version 2 adds `ID exec-pty ROWS COLS CWD NENV ...`, `ID resize ROWS COLS`, file transfers
 * `ID get PATH` + `ID credit N` and `ID put DEST NAME` + `ID pent ...`, `ID pdata DATA`, `ID pend`.
 * Version 3 adds `ID sync` and `ID identity KEY=VALUE...` (identity.ts), both answered `ID ok -`.
 * Replies: `ID pong VERSION`, `ID health JSON`, `ID ports JSON`, `ID out DATA`,
 * `ID err DATA`, `ID exit CODE`, `ID error MSG` (`0 error MSG` when the request had no id),
 * and for get: `ID fent T MODE SEC NSEC SIZE REL [TARGET]`, `ID fdata DATA`.
 */
import type { GuestHealth, ListeningPort } from "../../api/agent.js";
import type { FileEntry } from "../../api/files.js";

export type { FileEntry };

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
  | { id: number; kind: "fent"; entry: FileEntry }
  | { id: number; kind: "fdata"; data: Buffer }
  | { id: number; kind: "ok" }
  | { id: number; kind: "error"; message: string };

const TYPE_LETTER = { file: "f", dir: "d", symlink: "l" } as const;
const LETTER_TYPE: Record<string, FileEntry["type"]> = { f: "file", d: "dir", l: "symlink" };

/** The first agent version that has exec-pty, resize, get and put. */
export const AGENT_V2 = 2;

/** The first agent version that has sync and identity. */
export const AGENT_V3 = 3;

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

export type SimpleVerb = "ping" | "health" | "ports" | "stdin-eof" | "sync";

export function encodeSimple(id: number, verb: SimpleVerb): string {
  return `${id} ${verb}\n`;
}

export function encodeWinsize(id: number, verb: "resize", rows: number, cols: number): string {
  return `${id} ${verb} ${winsize(rows, cols)}\n`;
}

function winsize(rows: number, cols: number): string {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 4096;
  if (!ok(rows) || !ok(cols)) throw new RangeError(`bad terminal size ${rows}x${cols}`);
  return `${rows} ${cols}`;
}

export function encodeGet(id: number, path: string): string {
  if (path === "" || path.includes("\0")) throw new RangeError("get needs a path without NUL bytes");
  return `${id} get ${toB64(path)}\n`;
}

export function encodeCredit(id: number, bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`bad credit ${bytes}`);
  return `${id} credit ${bytes}\n`;
}

export function encodePut(id: number, dest: string, name: string): string {
  if (dest === "" || dest.includes("\0")) throw new RangeError("put needs a destination without NUL bytes");
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
    throw new RangeError(`bad name ${JSON.stringify(name)}`);
  return `${id} put ${toB64(dest)} ${toB64(name)}\n`;
}

export function encodePent(id: number, e: FileEntry): string {
  const f = [String(id), "pent", TYPE_LETTER[e.type], (e.mode & 0o7777).toString(8)];
  f.push(String(Math.trunc(e.mtimeSec)), String(Math.trunc(e.mtimeNsec)), textField(e.path));
  if (e.type === "symlink") f.push(toB64(e.target ?? ""));
  return `${f.join(" ")}\n`;
}

/** File data of a put as request lines of at most STDIN_CHUNK_BYTES each. */
export function encodePdata(id: number, data: Uint8Array): string[] {
  return encodeStdin(id, data).map((l) => l.replace(" stdin ", " pdata "));
}

/** `ID fent T MODE SEC NSEC SIZE REL [TARGET]` after the verb. */
function parseEntry(rest: string): FileEntry | undefined {
  const f = rest.split(" ");
  const type = LETTER_TYPE[f[0] ?? ""];
  if (!type || f.length !== (type === "symlink" ? 7 : 6)) return undefined;
  if (!/^[0-7]{1,5}$/.test(f[1]!) || !f.slice(2, 5).every((x) => /^-?\d{1,20}$/.test(x))) return undefined;
  const path = f[5] === "-" ? Buffer.alloc(0) : fromB64(f[5]!);
  const target = type === "symlink" ? fromB64(f[6]!) : undefined;
  if (!path || (type === "symlink" && !target?.length)) return undefined;
  return {
    type,
    mode: Number.parseInt(f[1]!, 8),
    mtimeSec: Number(f[2]),
    mtimeNsec: Number(f[3]),
    size: Number(f[4]),
    path: path.toString("utf8"),
    ...(target ? { target: target.toString("utf8") } : {}),
  };
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
  /** Run on a pty of this size (agent version 2): stdout carries all output, stderr none. */
  pty?: { rows: number; cols: number };
}

/** Throws a RangeError on an argv, env or line the agent would refuse. */
export function encodeExec(id: number, req: ExecRequest): string {
  if (req.argv.length === 0) throw new RangeError("exec needs a command");
  const pty = req.pty ? ["exec-pty", winsize(req.pty.rows, req.pty.cols)] : ["exec"];
  const env = Object.entries(req.env ?? {});
  for (const [k, v] of env) {
    if (k === "" || k.includes("=") || k.includes("\0") || v.includes("\0"))
      throw new RangeError(`bad environment variable ${JSON.stringify(k)}`);
  }
  for (const a of [...req.argv, req.cwd ?? ""]) {
    if (a.includes("\0")) throw new RangeError("exec arguments cannot hold NUL bytes");
  }
  const fields = [String(id), ...pty, textField(req.cwd ?? ""), String(env.length)];
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
    case "fent": {
      const entry = parseEntry(rest);
      return entry ? { id, kind, entry } : bad("fent of the wrong shape");
    }
    case "fdata":
    case "out":
    case "err":
    case "error": {
      const data = fromB64(rest);
      if (!data || rest === "") return bad(`${kind} without base64 data`);
      return kind === "error" ? { id, kind, message: data.toString("utf8") } : { id, kind, data };
    }
    case "exit":
      return /^\d{1,3}$/.test(rest) ? { id, kind, code: Number(rest) } : bad("exit without a code");
    case "ok":
      return rest === "-" ? { id, kind } : bad("ok with a text");
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
