/** HTTP/1.1 + JSON to the Firecracker API over its Unix socket. */
import http from "node:http";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { ApiErrorBody, InstanceActionInfo, InstanceInfo } from "./apiTypes.js";

export interface ApiResponse {
  status: number;
  /** Parsed JSON, or undefined for an empty body (204). */
  body: unknown;
}

export interface ApiClientOptions {
  /** Per-request deadline. Default 30 000 ms (InstanceStart loads the kernel). */
  timeoutMs?: number;
}

export class FirecrackerApiClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(socketPath: string, opts: ApiClientOptions = {}) {
    this.socketPath = socketPath;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** One request; never throws on an HTTP status, only on transport failure. */
  request(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Accept: "application/json" };
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    return new Promise((resolve, reject) => {
      // agent: false = one connection per request; nothing lingers when the VMM goes away.
      const req = http.request(
        { socketPath: this.socketPath, host: "localhost", method, path, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: parseJson(chunks) }));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (e) => reject(this.transportError(method, path, e)));
      req.end(payload);
    });
  }

  /** A request that must succeed (2xx); otherwise a BangerError carrying Firecracker's fault_message. */
  async call(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    const res = await this.request(method, path, body, timeoutMs);
    if (res.status >= 200 && res.status < 300) return res.body;
    const fault = (res.body as ApiErrorBody | undefined)?.fault_message;
    throw new BangerError(
      ErrorCodes.VMM,
      `Firecracker rejected ${method} ${path} (HTTP ${res.status}): ${fault ?? JSON.stringify(res.body) ?? "no body"}`,
      { details: { method, path, status: res.status, fault_message: fault } },
    );
  }

  put(path: string, body: unknown): Promise<unknown> {
    return this.call("PUT", path, body);
  }

  /** `GET /`: the readiness probe. */
  async describeInstance(timeoutMs?: number): Promise<InstanceInfo> {
    return (await this.call("GET", "/", undefined, timeoutMs)) as InstanceInfo;
  }

  async action(action_type: InstanceActionInfo["action_type"], timeoutMs?: number): Promise<void> {
    const body: InstanceActionInfo = { action_type };
    await this.call("PUT", "/actions", body, timeoutMs);
  }

  /** True when something answers `GET /` on the socket. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    try {
      await this.describeInstance(timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  private transportError(method: string, path: string, e: Error): BangerError {
    const code = (e as NodeJS.ErrnoException).code;
    const what =
      code === "ENOENT"
        ? "the socket does not exist"
        : code === "ECONNREFUSED"
          ? "nobody listens"
          : e.message;
    return new BangerError(
      ErrorCodes.VMM,
      `cannot reach the Firecracker API at ${this.socketPath} (${method} ${path}): ${what}`,
      { cause: e },
    );
  }
}

function parseJson(chunks: Buffer[]): unknown {
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
