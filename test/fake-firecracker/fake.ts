#!/usr/bin/env node
/**
 * A fake `firecracker` for tests: `node fake.js --api-sock PATH --id ID`.
 * Serves the API on the Unix socket and validates every request against
 * banger's description of the Firecracker API (src/vmm/firecracker/apiSpec.ts;
 * see FakeFirecracker). Writes console lines to stdout.
 *
 * Environment:
 *   FAKE_FC_FAIL_ON               comma-separated `METHOD /path`: answer 400 with a fault_message
 *   FAKE_FC_IGNORE_CTRL_ALT_DEL=1 accept SendCtrlAltDel but keep running
 *   FAKE_FC_NO_SOCKET=1           never create the API socket (hang)
 *   FAKE_FC_RECORD                append a JSON line per event (start, every request with its answer)
 *   FAKE_FC_VERSION               the version `--version` and GET / report (default FAKE_VERSION)
 *   FAKE_FC_CHROOT                set by the fake jailer: every path given (--api-sock, file paths in
 *                                 bodies) is a path inside this directory, as for a jailed firecracker
 */
import { appendFileSync, existsSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import { FIRECRACKER_API } from "../../src/vmm/firecracker/apiSpec.js";
import { FAKE_VERSION, FakeFirecracker } from "./FakeFirecracker.js";

export interface RecordedRequest {
  event: "request";
  method: string;
  path: string;
  body: unknown;
  status: number;
  fault?: string;
}

export interface RecordedStart {
  event: "start";
  pid: number;
  argv: string[];
}

const env = process.env;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const record = (entry: RecordedRequest | RecordedStart): void => {
  if (env.FAKE_FC_RECORD) appendFileSync(env.FAKE_FC_RECORD, `${JSON.stringify(entry)}\n`);
};

/** A path as this (possibly jailed) firecracker sees it, on the host. */
function inJail(p: string): string {
  const root = env.FAKE_FC_CHROOT;
  if (!root) return p;
  if (!path.isAbsolute(p) || path.posix.normalize(p) !== p) {
    process.stderr.write(`a jailed firecracker cannot use ${p}: give absolute paths inside the chroot\n`);
    process.exit(1);
  }
  return path.join(root, p);
}

function parseFlags(): { apiSock: string; id: string } {
  try {
    const { values } = parseArgs({
      options: {
        "api-sock": { type: "string" },
        id: { type: "string" },
        version: { type: "boolean" },
        "start-time-us": { type: "string" },
        "start-time-cpu-us": { type: "string" },
      },
      strict: true,
    });
    if (values.version) {
      // like the real one: version first, then the snapshot formats it reads
      say(
        `Firecracker v${env.FAKE_FC_VERSION ?? FAKE_VERSION}\n\nSupported snapshot data format versions: v8.0.0`,
      );
      process.exit(0);
    }
    const id = values.id ?? "anonymous-instance";
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new Error(`Invalid instance ID: ${id}`);
    return { apiSock: inJail(values["api-sock"] ?? "/run/firecracker.socket"), id };
  } catch (e) {
    process.stderr.write(`Arguments parsing error: ${(e as Error).message}\n`);
    process.exit(153);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function main(): void {
  const { apiSock, id } = parseFlags();
  record({ event: "start", pid: process.pid, argv: process.argv.slice(2) });
  say(`fake-firecracker ${id}: starting (pid ${process.pid})`);
  if (env.FAKE_FC_NO_SOCKET === "1") {
    setInterval(() => {}, 1 << 30);
    return;
  }
  if (existsSync(apiSock)) {
    process.stderr.write(
      `Failed to open the API socket at: ${apiSock}. Check that it is not already used.\n`,
    );
    process.exit(1);
  }
  const fake = new FakeFirecracker({
    id,
    spec: FIRECRACKER_API,
    console: say,
    onShutdown: () => setTimeout(() => process.exit(0), 50),
    onFatal: () => setTimeout(() => process.exit(1), 50),
    failOn: new Set(
      (env.FAKE_FC_FAIL_ON ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    ignoreCtrlAltDel: env.FAKE_FC_IGNORE_CTRL_ALT_DEL === "1",
    hostPath: inJail,
  });
  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const reply = await fake.handle(method, url, raw);
    let body: unknown;
    try {
      body = raw.trim() === "" ? undefined : JSON.parse(raw);
    } catch {
      body = raw;
    }
    const fault = (reply.body as { fault_message?: string } | undefined)?.fault_message;
    record({ event: "request", method, path: url, body, status: reply.status, ...(fault ? { fault } : {}) });
    const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(payload),
    });
    res.end(payload);
  });
  server.listen(apiSock, () => say(`fake-firecracker ${id}: API listening on ${apiSock}`));
}

main();
