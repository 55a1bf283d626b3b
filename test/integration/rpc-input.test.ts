/**
 * call.input over a real Unix socket: inputs reach their call one at a time,
 * in order, each answered once consumed (InputSender's window holds the
 * sender back); an input for no call in flight is a clear NOT_FOUND.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { CallInput } from "../../src/api/files.js";
import type { MethodName } from "../../src/api/methods.js";
import { InputSender } from "../../src/cli/stream/InputSender.js";
import { isBangerError } from "../../src/errors/index.js";
import { RpcClient } from "../../src/rpc/client.js";
import { type Handler, RpcServer } from "../../src/rpc/server.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const quiet = { debug() {}, warn() {}, error() {} };

let dir: string;
let server: RpcServer;
let client: RpcClient;
const seen: string[] = [];
let busy = 0;
let maxBusy = 0;

/** Takes inputs until eof, slowly; the result lists them. */
const collect: Handler = (_p, ctx) =>
  new Promise((resolve) => {
    const got: string[] = [];
    ctx.onInput(async (i: CallInput) => {
      busy++;
      maxBusy = Math.max(maxBusy, busy);
      await sleep(5);
      busy--;
      if (typeof i.data === "string") got.push(Buffer.from(i.data, "base64").toString());
      seen.push(`took ${got.length}`);
      if (i.eof) resolve({ got });
    });
  });

describe("call.input over a Unix socket", () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "banger-rpc-input-"));
    server = new RpcServer(new Map([["test.collect", collect]]), quiet);
    await server.listen(path.join(dir, "s.sock"));
    client = await RpcClient.connect(path.join(dir, "s.sock"));
  });

  after(async () => {
    client?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("delivers inputs in order, one at a time, and the window holds the sender", async () => {
    let id = -1;
    const call = client.call("test.collect" as MethodName, {} as never, { onId: (i) => (id = i) });
    const sender = new InputSender(client, id, 3);
    const sentAt: number[] = [];
    for (let i = 0; i < 12; i++) {
      await sender.send({ data: Buffer.from(`chunk${i}`).toString("base64") });
      sentAt.push(seen.length);
    }
    await sender.send({ eof: true });
    const r = (await call) as unknown as { got: string[] };
    assert.deepEqual(
      r.got,
      Array.from({ length: 12 }, (_, i) => `chunk${i}`),
    );
    assert.equal(maxBusy, 1, "never two inputs of one call at once");
    assert.ok(sentAt[11]! >= 12 - 3, `the sender ran at most 3 ahead of the consumer (${sentAt.join(",")})`);
  });

  it("an input for a call not in flight is NOT_FOUND", async () => {
    await assert.rejects(
      client.call("call.input", { call: 9999, eof: true }),
      (e: unknown) => isBangerError(e) && e.code === "NOT_FOUND" && /no call 9999/.test(e.message),
    );
  });
});
