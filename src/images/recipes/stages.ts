/** Named, timed build stages reported as progress events ("start", then "done" with ms). */
import type { ProgressEvent } from "../../api/protocol.js";

export type ProgressSink = (e: ProgressEvent) => void;

export interface StageTiming {
  stage: string;
  ms: number;
}

export class Stages {
  readonly timings: StageTiming[] = [];

  /** Stage names are reported as PREFIX:NAME, for example "recipe:mmdebstrap". */
  constructor(
    private readonly onProgress: ProgressSink,
    private readonly prefix: string,
  ) {}

  async run<T>(name: string, message: string, fn: () => Promise<T>): Promise<T> {
    const stage = `${this.prefix}:${name}`;
    this.onProgress({ kind: "progress", stage, phase: "start", message });
    const t0 = performance.now();
    const value = await fn();
    const ms = Math.round(performance.now() - t0);
    this.timings.push({ stage: name, ms });
    this.onProgress({ kind: "progress", stage, phase: "done", message: `${message}: ${seconds(ms)}`, ms });
    return value;
  }

  info(name: string, message: string, counts: { current?: number; total?: number } = {}): void {
    this.onProgress({ kind: "progress", stage: `${this.prefix}:${name}`, phase: "info", message, ...counts });
  }

  warn(name: string, message: string): void {
    this.onProgress({ kind: "progress", stage: `${this.prefix}:${name}`, phase: "warn", message });
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
