/**
 * `banger system dial-stdio` (hidden plumbing): bridge this process's stdin
 * and stdout to this user's daemon socket, starting the daemon when needed.
 * A client with BANGER_HOST=ssh://... runs it on the far side through ssh.
 */
import net from "node:net";
import type { Command } from "commander";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CliContext } from "../context.js";
import { ensureDaemon } from "../daemonControl.js";

export function registerSystem(program: Command, ctx: () => CliContext): void {
  const system = program.command("system", { hidden: true }).description("plumbing for other programs");
  system
    .command("dial-stdio")
    .description(
      "bridge stdin/stdout to this user's daemon (started if needed); what BANGER_HOST=ssh://... runs",
    )
    .action(async () => {
      const c = ctx();
      (await ensureDaemon(c.paths)).client.close();
      await bridge(c.paths.socket);
    });
}

function bridge(socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    sock.once("error", (e) =>
      reject(new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, `cannot connect to ${socketPath}: ${e.message}`)),
    );
    sock.once("connect", () => {
      process.stdin.pipe(sock);
      sock.pipe(process.stdout);
    });
    sock.once("close", () => {
      process.stdin.unpipe(sock);
      process.stdin.destroy();
      resolve();
    });
  });
}
