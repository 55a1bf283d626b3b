/**
 * `banger mcp`: an MCP server over stdio (official TypeScript MCP SDK) whose
 * tools drive banger through the SDK. Tool input schemas are built from the
 * API's field schemas (src/api/schema). Failures are MCP tool errors whose
 * text starts with banger's error code and whose structuredContent carries it.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { Int, Name } from "../api/schema/common.js";
import type { VmView } from "../api/vms.js";
import { buildInfo } from "../buildInfo.js";
import { tryParseSize } from "../config/sizes.js";
import { BangerError, ErrorCodes, toBangerError } from "../errors/index.js";
import type { Banger } from "../sdk/Banger.js";
import { EGRESS_LEVELS, type Policy } from "./policy.js";

type ToolResult = CallToolResult;

function ok(value: unknown): ToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(value, null, 2) }],
    structuredContent: value as Record<string, unknown>,
  };
}

function failure(e: unknown): ToolResult {
  const err = toBangerError(e);
  const error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return {
    isError: true,
    content: [{ type: "text", text: `${err.code}: ${err.message}${err.hint ? ` (${err.hint})` : ""}` }],
    structuredContent: { error },
  };
}

/** Run a tool body; every error becomes a tool error carrying banger's code. */
const guarded =
  <A>(fn: (a: A) => Promise<unknown>) =>
  async (a: A): Promise<ToolResult> => {
    try {
      return ok(await fn(a));
    } catch (e) {
      return failure(e);
    }
  };

function summary(v: VmView) {
  return {
    name: v.name,
    state: v.state,
    image: v.image.name,
    ip: v.ip,
    vcpu: v.spec.vcpu,
    memoryMib: v.spec.memoryMib,
  };
}

function memoryMib(m: number | string | undefined): number | undefined {
  if (m === undefined) return undefined;
  if (typeof m === "number") return m;
  const r = tryParseSize(m);
  if (!r.ok) throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `memory: ${r.message}`);
  return Math.round(r.value / 1024 ** 2);
}

const encoding = z
  .enum(["utf8", "base64"])
  .optional()
  .describe('"utf8" (default) or "base64" for binary data');

export function createMcpServer(b: Banger, policy: Policy): McpServer {
  const server = new McpServer({ name: "banger", version: buildInfo().version });
  const vm = async (name: string) => {
    policy.check(name);
    return b.vms.get(name);
  };

  server.registerTool(
    "vm_list",
    {
      description: "List the banger microVMs this server may use (name, state, image, IP).",
      inputSchema: {},
    },
    guarded(async () => ({
      vms: (await b.vms.list()).filter((v) => policy.allows(v.name)).map((v) => summary(v.info)),
    })),
  );

  server.registerTool(
    "vm_exec",
    {
      description:
        "Run a command (argv, no shell unless you call sh -c) in a VM as root; returns exit_code, stdout, stderr.",
      inputSchema: {
        name: Name.describe("VM name"),
        command: z.array(z.string()).min(1).describe('argv, e.g. ["sh", "-c", "ls /"]'),
        timeout_s: Int(1, 86_400).optional().describe("kill the command after this many seconds"),
      },
    },
    guarded(async (a: { name: string; command: string[]; timeout_s?: number | undefined }) => {
      const r = await (await vm(a.name)).exec(
        a.command,
        a.timeout_s ? { timeoutMs: a.timeout_s * 1000 } : {},
      );
      return { exit_code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    }),
  );

  server.registerTool(
    "file_read",
    {
      description: "Read a file from a VM.",
      inputSchema: {
        name: Name.describe("VM name"),
        path: Name.describe("absolute path in the guest"),
        encoding,
      },
    },
    guarded(async (a: { name: string; path: string; encoding?: "utf8" | "base64" | undefined }) => {
      const buf = await (await vm(a.name)).files.read(a.path, { encoding: "buffer" });
      const enc = a.encoding ?? "utf8";
      return { path: a.path, encoding: enc, content: buf.toString(enc), bytes: buf.length };
    }),
  );

  if (!policy.p.readOnly) registerWriteTools(server, b, policy, vm);
  return server;
}

function registerWriteTools(
  server: McpServer,
  b: Banger,
  policy: Policy,
  vm: (name: string) => ReturnType<Banger["vms"]["get"]>,
): void {
  registerCreate(server, b, policy);
  registerDelete(server, vm);
  registerFileWrite(server, vm);
  registerSnapshots(server, policy, vm);
}

function registerSnapshots(server: McpServer, policy: Policy, vm: VmOf): void {
  server.registerTool(
    "vm_suspend",
    {
      description:
        "Save a VM's whole state (memory, processes, open files) to disk and free its RAM; vm_resume brings it back as it was.",
      inputSchema: { name: Name.describe("VM name") },
    },
    guarded(async (a: { name: string }) => summary(await (await vm(a.name)).suspend())),
  );
  server.registerTool(
    "vm_resume",
    {
      description: "Resume a suspended or paused VM where it left off.",
      inputSchema: { name: Name.describe("VM name") },
    },
    guarded(async (a: { name: string }) => summary(await (await vm(a.name)).resume())),
  );
  server.registerTool(
    "vm_fork",
    {
      description:
        "Clone a running or suspended VM into 1-16 new VMs that start with its memory and disks (each with its own name, address and host key); the source runs on.",
      inputSchema: {
        name: Name.describe("the VM to clone"),
        clone_name: Name.optional().describe("clone name; with count > 1 the clones are NAME-1 ... NAME-N"),
        count: Int(1, 16).optional(),
      },
    },
    guarded(async (a: { name: string; clone_name?: string | undefined; count?: number | undefined }) => {
      const clones = policy.forkNames(a.clone_name, a.count ?? 1);
      const made = await (await vm(a.name)).fork({
        ...(clones ? { name: clones } : {}),
        count: a.count ?? 1,
      });
      return { clones: made.map((c) => summary(c.info)) };
    }),
  );
}

function registerCreate(server: McpServer, b: Banger, policy: Policy): void {
  server.registerTool(
    "vm_create",
    {
      description: "Create and boot a microVM; returns once its guest agent answers (ready for vm_exec).",
      inputSchema: {
        name: Name.optional().describe("VM name (a DNS label); generated when absent"),
        image: Name.optional().describe("image name (default: the configured one)"),
        vcpu: Int(1, 64).optional(),
        memory: z
          .union([Int(128, 1024 * 1024), z.string()])
          .optional()
          .describe('MiB, or a size like "1G"'),
        egress: z
          .enum(EGRESS_LEVELS)
          .optional()
          .describe("network egress: none < allow < public; never looser than the default"),
      },
    },
    guarded(
      async (a: {
        name?: string | undefined;
        image?: string | undefined;
        vcpu?: number | undefined;
        memory?: number | string | undefined;
        egress?: "none" | "allow" | "public" | undefined;
      }) => {
        const name = policy.createName(a.name);
        const egress = policy.egress(a.egress);
        const mem = memoryMib(a.memory);
        const params = {
          ...(name ? { name } : {}),
          ...(a.image ? { image: a.image } : {}),
          ...(a.vcpu ? { vcpu: a.vcpu } : {}),
          ...(mem ? { memoryMib: mem } : {}),
          // Passed through only when asked for (and checked above); the daemon's schema decides whether it knows egress.
          ...(egress ? { egress } : {}),
        };
        const v = await b.vms.create(params as Parameters<Banger["vms"]["create"]>[0]);
        await v.ready({ timeoutMs: 300_000 });
        return summary(await v.refresh());
      },
    ),
  );
}

type VmOf = (name: string) => ReturnType<Banger["vms"]["get"]>;

function registerDelete(server: McpServer, vm: VmOf): void {
  server.registerTool(
    "vm_delete",
    {
      description: "Delete a VM (stopping it first) and everything it owns.",
      inputSchema: { name: Name.describe("VM name") },
    },
    guarded(async (a: { name: string }) => {
      await (await vm(a.name)).delete({ force: true });
      return { deleted: a.name };
    }),
  );
}

function registerFileWrite(server: McpServer, vm: VmOf): void {
  server.registerTool(
    "file_write",
    {
      description: "Write a file in a VM (parent directories are created).",
      inputSchema: {
        name: Name.describe("VM name"),
        path: Name.describe("absolute path in the guest"),
        content: z.string().describe("the file's content, as text or base64 (see encoding)"),
        encoding,
      },
    },
    guarded(
      async (a: {
        name: string;
        path: string;
        content: string;
        encoding?: "utf8" | "base64" | undefined;
      }) => {
        if (a.encoding === "base64" && !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(a.content)) {
          throw new BangerError(
            ErrorCodes.INVALID_ARGUMENT,
            "content: not valid base64 (encoding is base64)",
          );
        }
        const data = Buffer.from(a.content, a.encoding ?? "utf8");
        await (await vm(a.name)).files.write(a.path, data);
        return { path: a.path, bytes: data.length };
      },
    ),
  );
}
