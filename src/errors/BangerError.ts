import { type ErrorCode, ErrorCodes } from "./codes.js";

/** The wire form of an error: what the RPC carries and `--json` prints. */
export interface ErrorPayload {
  code: string;
  message: string;
  hint?: string;
  /** Extra structured detail (for example every config problem). */
  details?: unknown;
}

export interface BangerErrorOptions {
  hint?: string;
  cause?: unknown;
  details?: unknown;
}

/**
 * The one error class of banger. `message` says what went wrong, `hint` says
 * how to fix it. Only the CLI turns it into text for a person.
 */
export class BangerError extends Error {
  readonly code: ErrorCode | string;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode | string, message: string, options: BangerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BangerError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  toPayload(): ErrorPayload {
    const out: ErrorPayload = { code: this.code, message: this.message };
    if (this.hint !== undefined) out.hint = this.hint;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }

  static fromPayload(p: ErrorPayload): BangerError {
    const opts: BangerErrorOptions = {};
    if (p.hint !== undefined) opts.hint = p.hint;
    if (p.details !== undefined) opts.details = p.details;
    return new BangerError(p.code, p.message, opts);
  }
}

export function isBangerError(e: unknown): e is BangerError {
  return e instanceof BangerError;
}

/** Wrap anything thrown into a BangerError, keeping BangerErrors as they are. */
export function toBangerError(e: unknown, code: ErrorCode = ErrorCodes.INTERNAL): BangerError {
  if (e instanceof BangerError) return e;
  if (e instanceof Error) return new BangerError(code, e.message, { cause: e });
  return new BangerError(code, String(e));
}
