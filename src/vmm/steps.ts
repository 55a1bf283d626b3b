import { BangerError, ErrorCodes, isBangerError } from "../errors/index.js";
import { faultPoint } from "./fault.js";

/** A named boot step. `run` may register cleanups that undo what it did. */
export interface Step<C> {
  name: string;
  run(ctx: C, onCleanup: (fn: () => Promise<void> | void) => void): Promise<void>;
}

export interface StepTiming {
  name: string;
  ms: number;
}

export interface RunStepsOptions {
  /** Called as each step starts (for progress events). */
  onStart?: (name: string) => void;
  /** Called when each step ends successfully. */
  onDone?: (t: StepTiming) => void;
  /** Told about a cleanup that failed while unwinding (it never hides the original error). */
  onCleanupError?: (step: string, err: unknown) => void;
  /** Returns extra text appended to the error's hint (for example log paths). */
  hintOnFailure?: () => string | undefined;
  /** The operation these steps belong to (create, start, boot ...): names the fault-injection points. */
  phase?: string;
}

/**
 * Run steps in order. On the first failure, run every registered cleanup in
 * reverse order and throw an error that names the failed step. On success the
 * cleanups are returned (the caller keeps them, for example to undo on stop).
 */
export async function runSteps<C>(
  steps: readonly Step<C>[],
  ctx: C,
  opts: RunStepsOptions = {},
): Promise<{ timings: StepTiming[]; cleanups: Array<{ step: string; fn: () => Promise<void> | void }> }> {
  const cleanups: Array<{ step: string; fn: () => Promise<void> | void }> = [];
  const timings: StepTiming[] = [];
  for (const step of steps) {
    if (opts.phase) faultPoint(opts.phase, step.name, "before");
    opts.onStart?.(step.name);
    const t0 = performance.now();
    try {
      await step.run(ctx, (fn) => cleanups.push({ step: step.name, fn }));
    } catch (err) {
      await unwind(cleanups, opts.onCleanupError);
      const extra = opts.hintOnFailure?.();
      const base = isBangerError(err) ? err : undefined;
      const message = `step "${step.name}" failed: ${err instanceof Error ? err.message : String(err)}`;
      const hint = [base?.hint, extra].filter((x): x is string => !!x).join("; ") || undefined;
      throw new BangerError(base?.code ?? ErrorCodes.VMM, message, {
        cause: err,
        details: { step: step.name, timings },
        ...(hint ? { hint } : {}),
      });
    }
    const t = { name: step.name, ms: Math.round(performance.now() - t0) };
    timings.push(t);
    opts.onDone?.(t);
    if (opts.phase) faultPoint(opts.phase, step.name, "after");
  }
  return { timings, cleanups };
}

/** Run cleanups in reverse order; a failing cleanup does not stop the others. */
export async function unwind(
  cleanups: Array<{ step: string; fn: () => Promise<void> | void }>,
  onError?: (step: string, err: unknown) => void,
): Promise<void> {
  for (const c of [...cleanups].reverse()) {
    try {
      await c.fn();
    } catch (e) {
      onError?.(c.step, e);
    }
  }
}
