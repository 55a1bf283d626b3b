import type { Command } from "commander";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { RpcClient } from "../../rpc/client.js";
import type { CliContext } from "../context.js";
import { connectDaemon, ensureDaemon, reconnectDaemon } from "../daemonControl.js";
import { remoteVmSsh, runSsh } from "../ssh.js";

export function registerTui(program: Command, ctx: () => CliContext): void {
  program
    .command("tui")
    .description("a terminal UI to browse and operate VMs, images and kernels (live; ? shows the keys)")
    .action(async () => {
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        throw new BangerError(
          ErrorCodes.USAGE,
          "banger tui needs a terminal (stdin and stdout must be a TTY)",
          {
            hint: "for scripts use `banger vm list --json`, `banger image list --json` and friends",
          },
        );
      }
      const c = ctx();
      // the TUI is loaded only when asked for: the other commands never pay for React and Ink
      const { runTui } = await import("../../tui/app.js");
      let connectedOnce = false;
      const remote = c.remote();
      await runTui(
        c.paths,
        remote
          ? {
              // a remote daemon: every connection is an ssh bridge; shells run through ssh -t there
              ensure: (paths) => connectDaemon(paths, c.env),
              connect: async () => (await connectDaemon(c.paths, c.env)).client,
              ssh: (info) => remoteVmSsh(remote, info.name, [], c.env),
            }
          : {
              // The first connection may replace a stale daemon; reconnects never replace a newer one.
              ensure: (paths) =>
                (connectedOnce ? reconnectDaemon(paths) : ensureDaemon(paths)).then((r) => {
                  connectedOnce = true;
                  return r;
                }),
              connect: (socket) => RpcClient.connect(socket),
              ssh: (info) => runSsh(info, []),
            },
        { stdin: process.stdin, stdout: process.stdout, env: c.env },
      );
    });
}
