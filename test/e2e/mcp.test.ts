/**
 * `banger mcp` end to end (issue 13 part 5): the official SDK's MCP client
 * starts `banger mcp` over stdio (inside a network namespace this test
 * creates) and calls every tool against a real guest under QEMU; the
 * restricted servers (--read-only, --vm-pattern, egress) are driven the same way.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, type NsSandbox, tinyGuestSandbox } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;
let full: Client;

interface ToolOut {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content?: Array<{ type: string; text?: string }>;
}

async function mcpClient(args: string[]): Promise<Client> {
  const client = new Client({ name: "banger-e2e", version: "1" });
  const bin = path.join(repoRoot(), "bin", "banger");
  await client.connect(
    new StdioClientTransport({
      command: "ip",
      args: ["netns", "exec", t.ns, process.execPath, bin, "mcp", ...args],
      env: t.sb.env,
      stderr: "inherit",
    }),
  );
  return client;
}

async function call(c: Client, name: string, args: Record<string, unknown>): Promise<ToolOut> {
  return (await c.callTool({ name, arguments: args })) as ToolOut;
}

async function okCall(
  c: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const r = await call(c, name, args);
  assert.ok(!r.isError, `${name} failed: ${JSON.stringify(r.content)}`);
  return r.structuredContent ?? {};
}

function errorCode(r: ToolOut): string | undefined {
  assert.equal(r.isError, true, JSON.stringify(r));
  return (r.structuredContent?.error as { code?: string } | undefined)?.code;
}

describe("banger mcp with the official MCP client", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await tinyGuestSandbox("bgmcp", guest);
    full = await mcpClient([]);
  });

  after(async () => {
    await full?.close().catch(() => undefined);
    await t?.cleanup();
  });

  test("lists every tool with an input schema", async () => {
    const tools = (await full.listTools()).tools;
    assert.deepEqual(tools.map((x) => x.name).sort(), [
      "file_read",
      "file_write",
      "vm_create",
      "vm_delete",
      "vm_exec",
      "vm_fork",
      "vm_list",
      "vm_resume",
      "vm_suspend",
    ]);
    const exec = tools.find((x) => x.name === "vm_exec")!;
    assert.deepEqual(exec.inputSchema.required?.sort(), ["command", "name"]);
  });

  test("vm_create boots a VM ready for vm_exec; a looser egress is refused", async () => {
    const refused = await call(full, "vm_create", { name: "loose", egress: "public" });
    assert.equal(errorCode(refused), "INVALID_ARGUMENT");
    assert.match(refused.content?.[0]?.text ?? "", /^INVALID_ARGUMENT: egress: "public" is looser/);
    const v = await okCall(full, "vm_create", { name: "mcp1", vcpu: 1, memory: "512M" });
    assert.equal(v.name, "mcp1");
    assert.equal(v.state, "running");
    assert.equal(v.memoryMib, 512);
  });

  test("vm_exec returns exit code, stdout and stderr; failures carry banger's error code", async () => {
    const r = await okCall(full, "vm_exec", {
      name: "mcp1",
      command: ["sh", "-c", "echo out; echo err >&2; exit 4"],
    });
    assert.deepEqual(r, { exit_code: 4, stdout: "out\n", stderr: "err\n" });
    assert.equal(errorCode(await call(full, "vm_exec", { name: "nope", command: ["true"] })), "NOT_FOUND");
    const t0 = Date.now();
    const slow = await call(full, "vm_exec", { name: "mcp1", command: ["sleep", "60"], timeout_s: 1 });
    assert.equal(errorCode(slow), "TIMEOUT");
    assert.ok(Date.now() - t0 < 15_000);
  });

  test("file_write and file_read, as text and as base64", async () => {
    assert.deepEqual(
      await okCall(full, "file_write", { name: "mcp1", path: "/root/x/a.txt", content: "héllo\n" }),
      {
        path: "/root/x/a.txt",
        bytes: 7,
      },
    );
    const text = await okCall(full, "file_read", { name: "mcp1", path: "/root/x/a.txt" });
    assert.equal(text.content, "héllo\n");
    const bin = randomBytes(4096).toString("base64");
    await okCall(full, "file_write", { name: "mcp1", path: "/root/b.bin", content: bin, encoding: "base64" });
    const back = await okCall(full, "file_read", { name: "mcp1", path: "/root/b.bin", encoding: "base64" });
    assert.equal(back.content, bin);
    assert.equal(errorCode(await call(full, "file_read", { name: "mcp1", path: "/root/none" })), "NOT_FOUND");
    const badB64 = { name: "mcp1", path: "/root/c.bin", content: "not base64!", encoding: "base64" };
    assert.equal(errorCode(await call(full, "file_write", badB64)), "INVALID_ARGUMENT");
  });

  test("vm_list shows the VM; a --read-only --vm-pattern server sees only its VMs and cannot write", async () => {
    const l = await okCall(full, "vm_list", {});
    assert.deepEqual(
      (l.vms as Array<{ name: string }>).map((v) => v.name),
      ["mcp1"],
    );
    const ro = await mcpClient(["--read-only", "--vm-pattern", "agent-*"]);
    try {
      const names = (await ro.listTools()).tools.map((x) => x.name).sort();
      assert.deepEqual(names, ["file_read", "vm_exec", "vm_list"]);
      assert.deepEqual((await okCall(ro, "vm_list", {})).vms, []);
      assert.equal(errorCode(await call(ro, "vm_exec", { name: "mcp1", command: ["true"] })), "NOT_FOUND");
      const write = await call(ro, "file_write", { name: "mcp1", path: "/root/y", content: "x" }).catch(
        (e: Error) => ({ isError: true, content: [{ type: "text", text: e.message }] }),
      );
      assert.equal(write.isError, true);
      assert.match(write.content?.[0]?.text ?? "", /file_write/);
    } finally {
      await ro.close();
    }
    const check = await t.ok(["vm", "exec", "mcp1", "--", "ls", "/root"]);
    assert.doesNotMatch(check.stdout, /^y$/m);
  });

  test("vm_delete removes it", async () => {
    assert.deepEqual(await okCall(full, "vm_delete", { name: "mcp1" }), { deleted: "mcp1" });
    assert.deepEqual((await okCall(full, "vm_list", {})).vms, []);
    assert.equal(errorCode(await call(full, "vm_delete", { name: "mcp1" })), "NOT_FOUND");
  });
});
