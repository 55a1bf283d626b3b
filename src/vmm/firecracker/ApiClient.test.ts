import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FirecrackerApiClient } from "./ApiClient.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "banger-api-"));
const sock = path.join(dir, "api.sock");
const seen: Array<{ method?: string; url?: string; body: string; type?: string }> = [];
let server: http.Server;

before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, body, type: req.headers["content-type"] });
      if (req.url === "/hang") return; // never answers
      if (req.url === "/") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(
          JSON.stringify({ id: "x", state: "Not started", vmm_version: "1.16.1", app_name: "Firecracker" }),
        );
      } else if (req.url === "/bad") {
        res.writeHead(400, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ fault_message: "Invalid drive id" }));
      } else if (req.url === "/text") {
        res.writeHead(500);
        res.end("oops");
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

test("PUT sends JSON and resolves on 204", async () => {
  const c = new FirecrackerApiClient(sock);
  assert.equal(await c.put("/machine-config", { vcpu_count: 1, mem_size_mib: 128 }), undefined);
  const last = seen.at(-1);
  assert.deepEqual(last, {
    method: "PUT",
    url: "/machine-config",
    body: '{"vcpu_count":1,"mem_size_mib":128}',
    type: "application/json",
  });
});

test("GET / parses the instance info", async () => {
  const c = new FirecrackerApiClient(sock);
  assert.equal((await c.describeInstance()).app_name, "Firecracker");
  assert.equal(await c.ping(), true);
});

test("a 400 surfaces Firecracker's fault_message", async () => {
  const c = new FirecrackerApiClient(sock);
  await assert.rejects(c.put("/bad", {}), {
    code: "VMM",
    message: "Firecracker rejected PUT /bad (HTTP 400): Invalid drive id",
  });
  await assert.rejects(c.call("GET", "/text"), { message: /HTTP 500\): "oops"/ });
  assert.deepEqual(await c.request("PUT", "/bad", {}), {
    status: 400,
    body: { fault_message: "Invalid drive id" },
  });
});

test("actions", async () => {
  await new FirecrackerApiClient(sock).action("InstanceStart");
  assert.equal(seen.at(-1)?.body, '{"action_type":"InstanceStart"}');
});

test("transport failures say what is wrong", async () => {
  const missing = new FirecrackerApiClient(path.join(dir, "missing.sock"));
  await assert.rejects(missing.put("/logger", {}), {
    code: "VMM",
    message: /missing\.sock .*does not exist/,
  });
  assert.equal(await missing.ping(), false);
  await assert.rejects(
    new FirecrackerApiClient(sock, { timeoutMs: 100 }).call("GET", "/hang"),
    /no answer within 100 ms/,
  );
});
