/**
 * `banger vm cp SRC NAME:DEST` and `banger vm cp NAME:SRC DEST`: files and
 * directories through the guest agent (no SSH), keeping modes, mtimes and
 * symlinks. Local paths are this machine's, also with a remote BANGER_HOST:
 * the files stream over the connection.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { CP_OUT_WINDOW, type CpResult } from "../../api/files.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { RpcClient } from "../../rpc/client.js";
import type { CliContext } from "../context.js";
import { Extractor } from "../cp/extract.js";
import { sendTree, statSource } from "../cp/sendTree.js";
import { InputSender } from "../stream/InputSender.js";

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

export async function copyIn(client: RpcClient, src: string, name: string, dest: string): Promise<CpResult> {
  const root = await statSource(src);
  const baseName = path.basename(path.resolve(src));
  let id = -1;
  const call = client.call("vm.cpIn", { name, dest, baseName }, { onId: (i) => (id = i) });
  const sender = new InputSender(client, id);
  call.catch(() => undefined); // awaited below, or superseded by the send's error
  let s: Awaited<ReturnType<typeof sendTree>>;
  try {
    s = await sendTree(sender, src, root);
  } catch (e) {
    // when the guest refused, the call fails too: report its error, not the input that failed after it
    const settled = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([call.then(() => undefined), settled]);
    throw e;
  }
  const r = await call;
  for (const m of s.skipped) process.stderr.write(`banger: skipped ${m}\n`);
  return { ...r, warnings: r.warnings + s.skipped.length };
}

/** Where the copy's root lands: inside DEST when it is a directory, else DEST itself. */
async function outRoot(src: string, dest: string): Promise<string> {
  const st = await stat(dest).catch(() => null);
  if (!st?.isDirectory()) return path.resolve(dest);
  const base = path.posix.basename(src.replace(/\/+$/, ""));
  if (!base || base === "." || base === "..")
    throw new BangerError(ErrorCodes.USAGE, `${src}: name a file or directory to copy`);
  return path.join(path.resolve(dest), base);
}

export async function copyOut(client: RpcClient, name: string, src: string, dest: string): Promise<CpResult> {
  const ex = new Extractor(await outRoot(src, dest), (m) => process.stderr.write(`banger: ${m}\n`));
  let id = -1;
  let chain: Promise<void> = Promise.resolve();
  let failed: Error | null = null;
  let warned = 0;
  let onFail: (e: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => {
    onFail = reject;
  });
  failure.catch(() => undefined);
  const queue = (f: () => Promise<void>) => {
    chain = chain
      .then(() => (failed ? undefined : f()))
      .catch((e: Error) => {
        failed ??= e;
        onFail(e);
      });
  };
  const call = client.call(
    "vm.cpOut",
    { name, src },
    {
      onId: (i) => (id = i),
      onEvent: (e) => {
        if (e.kind === "file-entry") queue(() => ex.entry(e.entry));
        else if (e.kind === "file-data") {
          const b = Buffer.from(e.data, "base64");
          queue(async () => {
            await ex.data(b);
            sender.post({ credit: b.length });
          });
        } else if (e.kind === "file-warning") {
          warned++;
          process.stderr.write(`banger: in the guest: ${e.message}\n`);
        }
      },
    },
  );
  const sender = new InputSender(client, id);
  void CP_OUT_WINDOW; // the guest sends at most this far ahead of the credit posted above
  try {
    // an extraction failure stops the credit, so it must not wait for the call (the connection's close cancels it)
    const r = await Promise.race([call, failure]);
    await chain;
    if (failed) throw failed;
    await ex.finish();
    return { ...r, warnings: warned + ex.skipped };
  } catch (e) {
    await ex.abort();
    throw failed ?? e;
  }
}
