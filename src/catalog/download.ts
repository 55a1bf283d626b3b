/**
 * Streaming download of a bundle to `DEST.part`, hashed on the way. An
 * interrupted transfer is resumed with an HTTP Range request (a server that
 * answers 200 instead of 206 restarts it from zero); transient failures are
 * retried with exponential backoff. The sha256 covers the whole file and is
 * checked before the part file is renamed to DEST. On failure nothing is left.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { fileURLToPath } from "node:url";
import { BangerError, isBangerError } from "../errors/index.js";
import { describeFetchError } from "./catalog.js";
import { CatalogErrorCodes } from "./types.js";

export interface DownloadProgress {
  /** Bytes received so far (including those kept from before a resume). */
  current: number;
  /** Bytes expected in all, when known. */
  total: number | null;
  /** Bytes per second over the current attempt. */
  rate: number;
  /** Seconds left at that rate, when known. */
  eta: number | null;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  reason: string;
  /** Where the next request starts (0: from the beginning). */
  resumeFrom: number;
}

export interface DownloadOptions {
  /** Expected sha256 of the whole file (lowercase hex). */
  sha256: string;
  /** Expected size: a longer body is refused, a shorter one resumed. */
  sizeBytes?: number;
  onProgress?: (p: DownloadProgress) => void;
  onRetry?: (r: RetryInfo) => void;
  /** Retries after the first attempt. Default 4. */
  retries?: number;
  /** First retry delay, doubled each time (at most 10 s). Default 500 ms. */
  backoffMs?: number;
  /** A request that receives nothing for this long fails (and is retried). Default 30 s. */
  idleTimeoutMs?: number;
  /** Least time between progress callbacks. Default 200 ms. */
  progressIntervalMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Requests resumed with Range. */
  resumes: number;
  /** Times the transfer started over (server ignored Range). */
  restarts: number;
}

/** Error codes that mean "the network, not the server's answer". */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);
/** Network errors not worth retrying. */
const PERMANENT_NETWORK_CODES = new Set(["ENOTFOUND"]);
const MAX_REDIRECTS = 5;

function errCode(e: unknown): string | undefined {
  const x = e as { code?: unknown; cause?: { code?: unknown } };
  const c = x?.code ?? x?.cause?.code;
  return typeof c === "string" ? c : undefined;
}

/** True when a download failed because of the network (refused, unknown host, timeout, reset, "fetch failed"). */
export function isNetworkFailure(e: unknown): boolean {
  if (isBangerError(e)) return (e.details as { network?: boolean } | undefined)?.network === true;
  const code = errCode(e);
  if (code && NETWORK_CODES.has(code)) return true;
  return e instanceof Error && e.message === "fetch failed";
}

interface FailureInfo {
  retryable: boolean;
  network: boolean;
  status?: number;
  cause?: unknown;
}

/** A failed attempt, to be retried or reported. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly info: FailureInfo,
  ) {
    super(message);
  }
}

function classify(e: unknown): AttemptError {
  if (e instanceof AttemptError || isBangerError(e)) {
    return e instanceof AttemptError
      ? e
      : new AttemptError(e.message, { retryable: false, network: false, cause: e });
  }
  const code = errCode(e);
  const network = code !== undefined && NETWORK_CODES.has(code);
  const aborted = e instanceof Error && e.message === "aborted";
  return new AttemptError(describeFetchError(e), {
    retryable: (network && !PERMANENT_NETWORK_CODES.has(code ?? "")) || aborted,
    network: network || aborted,
    cause: e,
  });
}

function statusFailure(status: number, text: string | undefined): AttemptError {
  const retryable = status >= 500 || status === 408 || status === 429;
  return new AttemptError(`HTTP ${status}${text ? ` ${text}` : ""}`, { retryable, network: false, status });
}

/** Reports progress at most every `interval` ms (and always when forced). */
class Meter {
  private startAt = 0;
  private startBytes = 0;
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly fn: ((p: DownloadProgress) => void) | undefined,
    private readonly now: () => number,
    private readonly interval: number,
  ) {}

  begin(bytes: number): void {
    this.startAt = this.now();
    this.startBytes = bytes;
  }

  tick(current: number, total: number | null, force = false): void {
    if (!this.fn) return;
    const t = this.now();
    if (!force && t - this.lastAt < this.interval) return;
    this.lastAt = t;
    const secs = (t - this.startAt) / 1000;
    const rate = secs > 0 ? Math.round((current - this.startBytes) / secs) : 0;
    const eta = total !== null && rate > 0 ? Math.max(0, Math.ceil((total - current) / rate)) : null;
    this.fn({ current, total, rate, eta });
  }
}

interface Transfer {
  url: string;
  fh: FileHandle;
  hash: Hash;
  written: number;
  total: number | null;
  expected: number | undefined;
  meter: Meter;
  resumes: number;
  restarts: number;
}

async function restart(t: Transfer): Promise<void> {
  t.hash = createHash("sha256");
  t.written = 0;
  t.restarts++;
  await t.fh.truncate(0);
}

async function write(t: Transfer, chunk: Buffer): Promise<void> {
  if (t.expected !== undefined && t.written + chunk.length > t.expected) {
    throw new AttemptError(`the server sent more than the expected ${t.expected} bytes`, {
      retryable: false,
      network: false,
    });
  }
  await t.fh.write(chunk, 0, chunk.length, t.written);
  t.hash.update(chunk);
  t.written += chunk.length;
  t.meter.tick(t.written, t.total);
}

function get(url: URL, headers: http.OutgoingHttpHeaders, idleMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.get(url, { headers }, resolve);
    req.on("error", reject);
    req.setTimeout(idleMs, () => {
      const e = Object.assign(new Error(`no data for ${idleMs} ms`), { code: "ETIMEDOUT" });
      req.destroy(e);
    });
  });
}

/** GET following redirects. */
async function request(t: Transfer, headers: http.OutgoingHttpHeaders, idleMs: number) {
  let url = new URL(t.url);
  for (let i = 0; ; i++) {
    const res = await get(url, headers, idleMs);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(status) || !location) return res;
    res.resume();
    if (i >= MAX_REDIRECTS)
      throw new AttemptError("too many redirects", { retryable: false, network: false });
    url = new URL(location, url);
  }
}

/** Start of a `Content-Range: bytes START-END/TOTAL` header, or null. */
export function contentRangeStart(h: string | undefined): number | null {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(h ?? "");
  return m ? Number(m[1]) : null;
}

/** Check the status against the resume offset; decides where the body starts. */
async function acceptStatus(t: Transfer, res: http.IncomingMessage): Promise<"body" | "complete"> {
  const status = res.statusCode ?? 0;
  if (status === 206 && t.written > 0) {
    if (contentRangeStart(res.headers["content-range"]) === t.written) return "body";
    res.resume();
    await restart(t);
    throw new AttemptError("the server resumed at another offset", { retryable: true, network: false });
  }
  if (status === 200) {
    if (t.written > 0) await restart(t);
    return "body";
  }
  res.resume();
  if (status === 416 && t.written > 0) {
    if (t.written === t.expected) return "complete";
    await restart(t);
    throw new AttemptError("the server refused the range", { retryable: true, network: false });
  }
  throw statusFailure(status, res.statusMessage);
}

/** One HTTP request: resume from `t.written`, append the body. Throws AttemptError. */
async function attempt(t: Transfer, idleMs: number): Promise<void> {
  const headers: http.OutgoingHttpHeaders = { "user-agent": "banger", "accept-encoding": "identity" };
  if (t.written > 0) {
    headers.range = `bytes=${t.written}-`;
    t.resumes++;
  }
  t.meter.begin(t.written);
  const res = await request(t, headers, idleMs);
  if ((await acceptStatus(t, res)) === "complete") return;
  const length = Number(res.headers["content-length"]);
  t.total = Number.isSafeInteger(length) ? t.written + length : (t.expected ?? null);
  if (t.expected !== undefined && t.total !== t.expected) {
    res.resume();
    throw new AttemptError(`the server announces ${t.total} bytes, the catalog says ${t.expected}`, {
      retryable: false,
      network: false,
    });
  }
  const want = t.total ?? t.expected ?? null;
  const cut = (cause?: unknown) =>
    new AttemptError(
      `the connection closed after ${t.written} of ${want ?? "?"} bytes${cause ? ` (${describeFetchError(cause)})` : ""}`,
      { retryable: true, network: true, cause },
    );
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) await write(t, chunk);
  } catch (e) {
    throw e instanceof AttemptError ? e : cut(e);
  }
  if (!res.complete || (want !== null && t.written < want)) throw cut();
}

async function copyFileUrl(t: Transfer): Promise<void> {
  const file = fileURLToPath(t.url);
  try {
    t.meter.begin(0);
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      await write(t, chunk).catch((e: unknown) => {
        const why = `writing the copy of ${file} failed: ${describeFetchError(e)}`;
        throw e instanceof AttemptError
          ? e
          : new AttemptError(why, { retryable: false, network: false, cause: e });
      });
    }
  } catch (e) {
    if (e instanceof AttemptError) throw e;
    throw new AttemptError(`cannot read ${file}: ${describeFetchError(e)}`, {
      retryable: false,
      network: false,
      cause: e,
    });
  }
  if (t.expected !== undefined && t.written !== t.expected) {
    throw new AttemptError(`${file} has ${t.written} bytes, the catalog says ${t.expected}`, {
      retryable: false,
      network: false,
    });
  }
}

async function fetchWithRetries(t: Transfer, o: DownloadOptions): Promise<void> {
  const retries = o.retries ?? 4;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let i = 0; ; i++) {
    try {
      await attempt(t, o.idleTimeoutMs ?? 30_000);
      return;
    } catch (e) {
      const err = classify(e);
      if (!err.info.retryable || i >= retries) {
        throw Object.assign(err, { attempts: i + 1 });
      }
      const delayMs = Math.min(10_000, (o.backoffMs ?? 500) * 2 ** i);
      o.onRetry?.({ attempt: i + 1, delayMs, reason: err.message, resumeFrom: t.written });
      await sleep(delayMs);
    }
  }
}

function toBangerError(url: string, e: unknown): BangerError {
  if (isBangerError(e)) return e;
  const err = classify(e);
  const attempts = (e as { attempts?: number }).attempts ?? 1;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  const hint =
    err.info.status === 404
      ? "the bundle is not there: check the catalog entry's bundle.url"
      : err.info.network
        ? "check the network connection and that the server is up"
        : undefined;
  return new BangerError(
    CatalogErrorCodes.DOWNLOAD_FAILED,
    `download of ${url} failed${tries}: ${err.message}`,
    {
      ...(hint ? { hint } : {}),
      cause: err.info.cause ?? e,
      details: { url, status: err.info.status ?? null, network: err.info.network },
    },
  );
}

async function verify(t: Transfer, sha256: string): Promise<string> {
  const got = t.hash.digest("hex");
  if (got !== sha256) {
    throw new BangerError(
      CatalogErrorCodes.CHECKSUM_MISMATCH,
      `${t.url}: sha256 of the downloaded ${t.written} bytes is ${got}, the catalog says ${sha256}`,
      { hint: "the file changed or is corrupt: nothing was installed; fix the catalog entry or the file" },
    );
  }
  return got;
}

/** Download `url` (http(s):// or file://) to `dest`, verified against `opts.sha256`. */
export async function download(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const fh = await open(part, "w", 0o600);
  const meter = new Meter(opts.onProgress, opts.now ?? Date.now, opts.progressIntervalMs ?? 200);
  const t: Transfer = {
    url,
    fh,
    hash: createHash("sha256"),
    written: 0,
    total: opts.sizeBytes ?? null,
    expected: opts.sizeBytes,
    meter,
    resumes: 0,
    restarts: 0,
  };
  try {
    try {
      if (new URL(url).protocol === "file:") await copyFileUrl(t);
      else await fetchWithRetries(t, opts);
    } catch (e) {
      throw toBangerError(url, e);
    }
    meter.tick(t.written, t.total ?? t.written, true);
    const sha256 = await verify(t, opts.sha256);
    await fh.sync();
    await fh.close();
    await rename(part, dest);
    return { path: dest, bytes: t.written, sha256, resumes: t.resumes, restarts: t.restarts };
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(part, { force: true });
    throw e;
  }
}
