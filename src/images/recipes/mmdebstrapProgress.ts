/**
 * What mmdebstrap is doing, from its stderr, while it runs (about a minute
 * for the golden image). It writes no progress bar when stderr is not a
 * terminal, only one "I: ..." line as each phase begins; this turns those
 * into progress lines, and says "still running" with the elapsed time every
 * two seconds in between so the CLI never sits silent.
 */

/** mmdebstrap's phase lines (its `info` calls, version 1.x) and how we call them. */
const PHASES: ReadonlyArray<[RegExp, string]> = [
  [/^I: running apt-get update/, "reading the package lists"],
  [/^I: downloading packages with apt/, "downloading packages"],
  [/^I: extracting archives/, "unpacking the essential packages"],
  [/^I: installing essential packages/, "installing the essential packages"],
  [/^I: installing remaining packages inside the chroot/, "installing the other packages"],
  [/^I: cleaning package lists and apt cache/, "cleaning the apt cache"],
  [/^I: creating tarball/, "writing the tree"],
];

/** The phase a line of mmdebstrap's stderr starts, or null. */
export function mmdebstrapPhase(line: string): string | null {
  const l = line.trimEnd();
  return PHASES.find(([re]) => re.test(l))?.[1] ?? null;
}

/** Schedules `fn` every `ms`; returns its cancel. */
export type Repeat = (fn: () => void, ms: number) => () => void;

const realRepeat: Repeat = (fn, ms) => {
  const h = setInterval(fn, ms);
  h.unref();
  return () => clearInterval(h);
};

export interface MmdebstrapProgressOptions {
  /** How often "still running" is said between phase lines. Default 2000 ms. */
  intervalMs?: number;
  now?: () => number;
  repeat?: Repeat;
}

/** Feed it mmdebstrap's stderr (`feed`); it reports phases and a heartbeat until `stop`. */
export class MmdebstrapProgress {
  private phase = "starting";
  private partial = "";
  private readonly t0: number;
  private readonly now: () => number;
  private readonly cancel: () => void;

  constructor(
    private readonly report: (message: string) => void,
    opts: MmdebstrapProgressOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
    this.cancel = (opts.repeat ?? realRepeat)(() => this.tick(), opts.intervalMs ?? 2000);
  }

  private elapsed(): string {
    return `${Math.round((this.now() - this.t0) / 1000)} s`;
  }

  /** A chunk of stderr (lines may be split across chunks). */
  readonly feed = (chunk: string): void => {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      const phase = mmdebstrapPhase(line);
      if (phase === null || phase === this.phase) continue;
      this.phase = phase;
      this.report(`mmdebstrap: ${phase} (${this.elapsed()})`);
    }
  };

  tick(): void {
    this.report(`mmdebstrap: ${this.phase}, still running (${this.elapsed()})`);
  }

  stop(): void {
    this.cancel();
  }
}
