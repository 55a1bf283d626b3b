/** The two directions of `banger vm cp` (src/cli/commands/cp.ts), over the daemon's vm.cpIn / vm.cpOut. */
import { stat } from "node:fs/promises";
import path from "node:path";
import { CP_OUT_WINDOW, type CpResult } from "../../api/files.js";
import type { RpcEvent } from "../../api/protocol.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { RpcClient } from "../../rpc/client.js";
import { InputSender } from "../stream/InputSender.js";
import { Extractor } from "./extract.js";
import { sendTree, statSource } from "./sendTree.js";

export async function copyIn(client: RpcClient, src: string, name: string, dest: string): Promise<CpResult> {
  const root = await statSource(src);
  const baseName = path.basename(path.resolve(src));
  let id = -1;
  const call = client.call(
    "vm.cpIn",
    { name, dest, baseName },
    { onId: (i) => (id = i), onEvent: wakeNotice },
  );
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
        } else wakeNotice(e);
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

/** The VM had suspended itself while idle and was woken for this copy: say so, once. */
function wakeNotice(e: RpcEvent): void {
  if (e.kind === "progress" && e.stage === "wake") process.stderr.write(`banger: ${e.message}\n`);
}
