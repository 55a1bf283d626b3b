import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { BangerError } from "../errors/index.js";
import { RpcClient } from "./client.js";
import { type Handler, type HandlerContext, RpcServer } from "./server.js";

const dir = mkdtempSync(path.join(tmpdir(), "banger-rpc-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { debug() {}, warn() {}, error() {} };
let n = 0;

/** A real server on a real socket: "vm.show" takes `ms`, "events.watch" runs until cut. */
async function serve(): Promise<{ server: RpcServer; socket: string; streamEnded: () => boolean }> {
  let ended = false;
  const handlers = new Map<string, Handler>([
    ["ping", () => ({ ok: true })],
    [
      "vm.show",
      async (p) => {
        await new Promise((r) => setTimeout(r, (p as { ms: number }).ms));
        return { finished: (p as { ms: number }).ms };
      },
    ],
    [
      "events.watch",
      (_p, ctx: HandlerContext) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            ended = true;
            resolve(null);
          });
        }),
    ],
  ]);
  const server = new RpcServer(handlers, quiet);
  const socket = path.join(dir, `s${n++}.sock`);
  await server.listen(socket);
  return { server, socket, streamEnded: () => ended };
}

const endless = (m: string) => m === "events.watch";

describe("RpcServer drain", () => {
  it("waits for requests in flight, refuses new ones, then cuts endless streams", async () => {
    const { server, socket, streamEnded } = await serve();
    const c = await RpcClient.connect(socket);
    const watch = c.call("events.watch", {});
    const slow = c.call("vm.show", { ms: 400 } as never);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(server.inFlightMethods().sort(), ["events.watch", "vm.show"]);
    const t0 = Date.now();
    const drain = server.drain(10_000, endless);
    // a request arriving on an open connection during the drain is refused with a code
    await assert.rejects(
      c.call("vm.show", { ms: 1 } as never),
      (e: unknown) =>
        e instanceof BangerError && e.code === "DAEMON_UNAVAILABLE" && /shutting down/.test(e.message),
    );
    // no new connections
    await assert.rejects(RpcClient.connect(socket));
    assert.deepEqual(await slow, { finished: 400 }, "the request in flight finished with its result");
    assert.equal(await watch, null, "the stream ended cleanly with a result");
    const d = await drain;
    const ms = Date.now() - t0;
    assert.ok(ms >= 300 && ms < 3000, `drain took ${ms} ms`);
    assert.ok(streamEnded());
    assert.deepEqual(d.abandoned, []);
    c.close();
    await server.close();
  });

  it("gives up at the bound and reports what was still running", async () => {
    const { server, socket } = await serve();
    const c = await RpcClient.connect(socket);
    const slow = c.call("vm.show", { ms: 5000 } as never).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const d = await server.drain(300, endless);
    const ms = Date.now() - t0;
    assert.ok(ms >= 300 && ms < 3500, `drain took ${ms} ms`);
    assert.deepEqual(d.abandoned, ["vm.show"]);
    c.close();
    assert.ok((await slow) instanceof Error);
    await server.close();
  });

  it("with nothing in flight returns at once", async () => {
    const { server } = await serve();
    const t0 = Date.now();
    assert.deepEqual(await server.drain(30_000, endless), { drained: 0, abandoned: [] });
    assert.ok(Date.now() - t0 < 500);
    await server.close();
  });
});
