/**
 * `banger vm cp SRC NAME:DEST` and `banger vm cp NAME:SRC DEST`: files and
 * directories through the guest agent (no SSH), keeping modes, mtimes and
 * symlinks. Local paths are this machine's, also with a remote BANGER_HOST:
 * the files stream over the connection.
 */
import type { Command } from "commander";
import type { CpResult } from "../../api/files.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { CliContext } from "../context.js";

export type CpSpec = { vm: string; path: string } | { local: string };

/** `NAME:PATH` names a guest path; anything starting with / or . (or without a colon) is local. */
export function parseCpArg(arg: string): CpSpec {
  if (arg.startsWith("/") || arg.startsWith(".")) return { local: arg };
  const m = /^([A-Za-z0-9][A-Za-z0-9_-]*):(.*)$/.exec(arg);
  if (!m) return { local: arg };
  if (m[2] === "") throw new BangerError(ErrorCodes.USAGE, `${arg}: give a path after "${m[1]}:"`);
  return { vm: m[1]!, path: m[2]! };
}

export function registerCp(vm: Command, ctx: () => CliContext): void {
  vm.command("cp")
    .description(
      "copy files and directories into or out of a VM through its agent: `vm cp SRC NAME:DEST` or `vm cp NAME:SRC DEST` (modes, mtimes and symlinks kept; setuid/setgid dropped on the way out)",
    )
    .argument("<src>", "a local path, or NAME:PATH in the guest")
    .argument("<dest>", "NAME:PATH in the guest, or a local path")
    .action(async (srcArg: string, destArg: string) => {
      const src = parseCpArg(srcArg);
      const dest = parseCpArg(destArg);
      const client = await ctx().client();
      // The copying (fs, tar-like streams) loads only when a copy runs, not with every `banger vm` command.
      const { copyIn, copyOut } = await import("../cp/copy.js");
      let r: CpResult;
      if ("local" in src && "vm" in dest) r = await copyIn(client, src.local, dest.vm, dest.path);
      else if ("vm" in src && "local" in dest) r = await copyOut(client, src.vm, src.path, dest.local);
      else
        throw new BangerError(ErrorCodes.USAGE, "vm cp: exactly one of SRC and DEST must be NAME:PATH", {
          hint: "for example `banger vm cp ./dir box:/root/` or `banger vm cp box:/root/out.txt .`",
        });
      if (r.warnings > 0) process.exitCode = 1;
    });
}
