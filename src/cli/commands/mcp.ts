import type { Command } from "commander";
import type { CliContext } from "../context.js";

interface McpOpts {
  vmPattern?: string;
  readOnly?: boolean;
}

/** `banger mcp`: the MCP server over stdio. Loads the MCP SDK and zod only when run. */
export function registerMcp(program: Command, ctx: () => CliContext): void {
  program
    .command("mcp")
    .description("serve banger to an AI agent as an MCP server over stdio (see README: MCP)")
    .option("--vm-pattern <glob>", "only VMs whose name matches GLOB (* and ?) are visible and usable")
    .option("--read-only", "no vm_create, vm_delete or file_write")
    .action(async (o: McpOpts) => {
      const c = ctx();
      const [{ Banger }, { Policy }, { createMcpServer }, { StdioServerTransport }, { loadConfig }] =
        await Promise.all([
          import("../../sdk/Banger.js"),
          import("../../mcp/policy.js"),
          import("../../mcp/server.js"),
          import("@modelcontextprotocol/sdk/server/stdio.js"),
          import("../../config/load.js"),
        ]);
      const config = await loadConfig(c.paths, c.env);
      // The egress new VMs get by default (config vm_defaults.egress once egress exists; the strictest until then).
      const configured = (config as unknown as { vm_defaults?: { egress?: { value?: unknown } } }).vm_defaults
        ?.egress?.value;
      const defaultEgress = configured === "allow" || configured === "public" ? configured : "none";
      const b = await Banger.connect({ env: c.env });
      const policy = new Policy({ vmPattern: o.vmPattern ?? null, readOnly: !!o.readOnly, defaultEgress });
      const server = createMcpServer(b, policy);
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        transport.onclose = () => resolve();
        process.stdin.once("end", () => resolve());
      });
      await server.connect(transport);
      await closed;
      await server.close().catch(() => undefined);
      b.close();
    });
}
