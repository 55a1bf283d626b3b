/**
 * File transfers through the guest agent (version 2): `get` streams a guest
 * tree out as entries and data, paced by credit; `put` writes a tree into
 * the guest from entries and data the host sends. Neither buffers more than
 * one window: memory stays flat for any file size.
 */
import type { FileEntry } from "../../api/files.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { type AgentClient, type AgentSession, agentRefusal } from "./AgentClient.js";
import { encodeCredit, encodeGet, encodeKill, encodePdata, encodePent, encodePut } from "./protocol.js";

export type TransferAgent = Pick<AgentClient, "session">;

export interface GetOptions {
  onEntry(entry: FileEntry): void;
  onData(data: Buffer): void;
  onWarning(message: string): void;
  /** On abort the transfer is cancelled in the guest and the result rejects with CANCELLED. */
  signal?: AbortSignal;
}

export interface GetHandle {
  /** 0, or 1 when the guest skipped entries (each reported to onWarning). */
  result: Promise<number>;
  /** The host took `bytes` more of the file data: the guest may send that much more. */
  credit(bytes: number): void;
}

function invalid(e: unknown): BangerError {
  return new BangerError(ErrorCodes.INVALID_ARGUMENT, (e as Error).message);
}

/** Stream the guest path `src` out. */
export function getFiles(agent: TransferAgent, src: string, opts: GetOptions): GetHandle {
  let session: AgentSession | undefined;
  const result = new Promise<number>((resolve, reject) => {
    const done = (f: () => void) => {
      opts.signal?.removeEventListener("abort", onAbort);
      session?.end();
      f();
    };
    const onAbort = () => {
      session?.write(encodeKill(session.id, 9));
      done(() =>
        reject(new BangerError(ErrorCodes.CANCELLED, `copying ${src} out of the guest was cancelled`)),
      );
    };
    let line: string;
    try {
      session = agent.session(
        (r) => {
          if (r.kind === "fent") opts.onEntry(r.entry);
          else if (r.kind === "fdata") opts.onData(r.data);
          else if (r.kind === "err") opts.onWarning(r.data.toString("utf8").trimEnd());
          else if (r.kind === "exit") done(() => resolve(r.code));
          else if (r.kind === "error") done(() => reject(agentRefusal(r.message, `copy of ${src}`)));
        },
        (e) => done(() => reject(e)),
      );
      line = encodeGet(session.id, src);
    } catch (e) {
      done(() => reject(e instanceof BangerError ? e : invalid(e)));
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    session.write(line);
  });
  return {
    result,
    credit: (bytes) => {
      if (session && bytes > 0) session.write(encodeCredit(session.id, bytes));
    },
  };
}

export interface PutHandle {
  /** The next entry; a file's data follows with `data`. */
  entry(e: FileEntry): Promise<void>;
  data(chunk: Uint8Array): Promise<void>;
  /** Every entry was sent: resolves once the guest set the directories' modes and times. */
  end(): Promise<void>;
  /** Give up: the guest drops the transfer. */
  abort(): void;
}

/** Write a tree into the guest: `dest` an existing directory receives `name`, else `dest` names it. */
export function putFiles(agent: TransferAgent, dest: string, name: string): PutHandle {
  let failed: BangerError | null = null;
  let finished: ((e: BangerError | null) => void) | null = null;
  const fail = (e: BangerError) => {
    failed ??= e;
    finished?.(failed);
  };
  const session = agent.session((r) => {
    if (r.kind === "exit" && r.code === 0) finished?.(null);
    else if (r.kind === "error") fail(agentRefusal(r.message, `copy to ${dest}`));
    else if (r.kind === "exit") fail(new BangerError(ErrorCodes.COMMAND_FAILED, `copy to ${dest} failed`));
  }, fail);
  const send = async (lines: string[]) => {
    for (const l of lines) {
      if (failed) throw failed;
      await session.writeAsync(l);
    }
    if (failed) throw failed;
  };
  try {
    session.write(encodePut(session.id, dest, name));
  } catch (e) {
    session.end();
    fail(invalid(e));
  }
  return {
    entry: (e) => send([encodePent(session.id, e)]),
    data: (chunk) => send(encodePdata(session.id, chunk)),
    end: async () => {
      const waited = new Promise<BangerError | null>((resolve) => {
        finished = resolve;
      });
      if (!failed) await send([`${session.id} pend\n`]);
      const err = failed ?? (await waited);
      session.end();
      if (err) throw err;
    },
    abort: () => {
      session.write(encodeKill(session.id, 9));
      session.end();
    },
  };
}
