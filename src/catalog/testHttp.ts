/** A loopback HTTP server for download tests: serves byte bodies with Range, drops connections on demand. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  path: string;
  range: string | null;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export interface TestServer {
  base: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Start a server on 127.0.0.1 (random port); `n` counts requests from 0. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ path: req.url ?? "", range: req.headers.range ?? null });
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface BodyOptions {
  /** Answer Range requests with 206 (default true). */
  honorRange?: boolean;
  /** Send only this many bytes of the (partial) body, then destroy the connection. */
  dropAfter?: number;
}

/** Serve `body` (honouring `Range: bytes=N-`), optionally dropping the connection part-way. */
export function sendBody(req: IncomingMessage, res: ServerResponse, body: Buffer, o: BodyOptions = {}): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  let start = 0;
  if (m && o.honorRange !== false) {
    start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, {
      "content-length": body.length - start,
      "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
    });
  } else res.writeHead(200, { "content-length": body.length, "accept-ranges": "bytes" });
  const part = body.subarray(start);
  if (o.dropAfter === undefined || o.dropAfter >= part.length) {
    res.end(part);
    return;
  }
  res.write(part.subarray(0, o.dropAfter), () => {
    setTimeout(() => res.socket?.destroy(), 20);
  });
}

/** A loopback port nobody listens on (bound and closed again). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
