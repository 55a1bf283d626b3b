/** The SDK against an in-process RpcServer whose handlers stand in for the daemon (the real one: test/e2e/sdk.test.ts). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { VmView } from "../api/vms.js";
import { isBangerError } from "../errors/index.js";
import { type Handler, type HandlerContext, RpcServer } from "../rpc/server.js";
import { Banger } from "./Banger.js";
import { unixSocket } from "./transport.js";

const quiet = { debug: () => undefined, warn: () => undefined, error: () => undefined };
const view = (name: string, state = "running") => ({ name, state }) as unknown as VmView;
const code = (c: string) => (e: unknown) => isBangerError(e) && e.code === c;
const out = (ctx: HandlerContext, stream: "stdout" | "stderr", s: string) =>
  ctx.emit({ kind: "exec-output", stream, data: Buffer.from(s).toString("base64") });

let dir: string;
let server: RpcServer;
let apiVersion = 1;
const aborted: string[] = [];

const handlers = new Map<string, Handler>([
  ["ping", () => ({ apiVersion, methods: [], buildId: "x" })],
  ["vm.show", (p) => view((p as { name: string }).name)],
  [
    "vm.exec",
    async (raw, ctx) => {
      const p = raw as { argv: string[]; stdin?: string; timeoutMs?: number };
      if (p.argv[0] === "echo") {
        out(ctx, "stdout", "a");
        out(ctx, "stderr", "b");
        out(ctx, "stdout", Buffer.from(p.stdin ?? "", "base64").toString());
        return { exitCode: 3 };
      }
      if (p.argv[0] === "timeout") return { exitCode: 143, timedOut: true };
      out(ctx, "stdout", "started");
      await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
      aborted.push(p.argv.join(" "));
      return { exitCode: 0 };
    },
  ],
]);

describe("SDK over an injectable transport", () => {
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "bg-sdk-"));
    server = new RpcServer(handlers, quiet);
    await server.listen(path.join(dir, "d.sock"));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const connect = () => Banger.connect({ transport: unixSocket(path.join(dir, "d.sock")) });

  it("exec collects stdout and stderr, passes stdin, keeps the exit code", async () => {
    const b = await connect();
    const vm = await b.vms.get("x");
    assert.deepEqual(await vm.exec(["echo"], { stdin: "-in" }), { exitCode: 3, stdout: "a-in", stderr: "b" });
    b.close();
  });

  it("execStream yields chunks in order, then the exit code", async () => {
    const b = await connect();
    const got: unknown[] = [];
    for await (const e of (await b.vms.get("x")).execStream(["echo"])) {
      got.push(
        "exitCode" in e ? e : Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v.toString()])),
      );
    }
    assert.deepEqual(got, [{ stdout: "a" }, { stderr: "b" }, { stdout: "" }, { exitCode: 3 }]);
    b.close();
  });

  it("abort and breaking out of a stream end the call on the daemon's side", async () => {
    const b = await connect();
    const vm = await b.vms.get("x");
    const ac = new AbortController();
    const p = vm.exec(["sleep", "1"], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, code("CANCELLED"));
    for await (const e of vm.execStream(["sleep", "2"])) {
      assert.ok("stdout" in e);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(aborted.sort(), ["sleep 1", "sleep 2"]);
    await assert.rejects(vm.exec(["sleep"], { signal: AbortSignal.abort() }), code("CANCELLED"));
    b.close();
  });

  it("a timed-out command is a TIMEOUT error", async () => {
    const b = await connect();
    await assert.rejects((await b.vms.get("x")).exec(["timeout"], { timeoutMs: 5 }), code("TIMEOUT"));
    b.close();
  });

  it("refuses a daemon of another API version", async () => {
    apiVersion = 2;
    try {
      await assert.rejects(
        connect(),
        (e: unknown) => code("PROTOCOL")(e) && /API version 2/.test((e as Error).message),
      );
    } finally {
      apiVersion = 1;
    }
  });
});
