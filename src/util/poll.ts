/**
 * The one wait-until loop: call a check every `intervalMs` until it answers or `timeoutMs` has
 * passed. The check runs at least once, and once more at the deadline, so a condition that holds
 * at the last moment is not reported as a timeout.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BangerError, ErrorCodes } from "../errors/index.js";

/** Not there yet: the check answered `undefined` or `false`. */
type NotYet = undefined | false;

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
}

export interface WaitForOptions extends PollOptions {
  /** What is awaited, for the timeout error: "timed out after 10 s waiting for WHAT". */
  what: string;
  /** The error to throw at the timeout instead (its message names what the caller knows). */
  onTimeout?: () => Error;
}

/** The check's answer once it is not `undefined` or `false`, or undefined at the timeout. */
export async function poll<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  o: PollOptions,
): Promise<Exclude<T, NotYet> | undefined> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const r = await check();
    if (r !== undefined && r !== false) return r as Exclude<T, NotYet>;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(o.intervalMs, left));
  }
}

/** Like poll, but a timeout throws: `o.onTimeout()`, else a TIMEOUT error naming `o.what`. */
export async function waitFor<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  o: WaitForOptions,
): Promise<Exclude<T, NotYet>> {
  const r = await poll(check, o);
  if (r !== undefined) return r;
  throw (
    o.onTimeout?.() ??
    new BangerError(ErrorCodes.TIMEOUT, `timed out after ${seconds(o.timeoutMs)} waiting for ${o.what}`)
  );
}

function seconds(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
