import type { Progress } from "./deps.js";

/** Progress events and timings for named stages. */
export function stageObserver(prefix: string, progress: Progress) {
  return {
    onStart: (name: string) =>
      progress({
        kind: "progress",
        stage: `${prefix}:${name}`,
        phase: "start",
        message: `${prefix}: ${name}`,
      }),
    onDone: (t: { name: string; ms: number }) =>
      progress({
        kind: "progress",
        stage: `${prefix}:${t.name}`,
        phase: "done",
        message: `${prefix}: ${t.name}`,
        ms: t.ms,
      }),
  };
}
