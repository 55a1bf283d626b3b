/**
 * Text building blocks of the views: one terminal line (styled only when
 * colour is allowed), fitting text to widths, and value formatting. Meaning
 * is always in the text itself (markers, words); colour only repeats it.
 */
import { Text } from "ink";
import { createContext, useContext } from "react";

/** Whether styling (colour, inverse, bold) may be used: false under NO_COLOR or TERM=dumb. */
export const ColorContext = createContext(true);

export type Tone = "good" | "bad" | "busy" | "dim" | "accent";

const TONES: Record<Tone, { color?: string; dimColor?: boolean }> = {
  good: { color: "green" },
  bad: { color: "red" },
  busy: { color: "yellow" },
  dim: { dimColor: true },
  accent: { color: "cyan" },
};

export interface LineProps {
  text: string;
  tone?: Tone | undefined;
  bold?: boolean;
  inverse?: boolean;
}

/** One line, cut at the terminal's edge. */
export function Line({ text, tone, bold, inverse }: LineProps) {
  const color = useContext(ColorContext);
  const style = color ? { ...(tone ? TONES[tone] : {}), bold: !!bold, inverse: !!inverse } : {};
  return (
    <Text wrap="truncate-end" {...style}>
      {text || " "}
    </Text>
  );
}

/** The tone a VM state is shown in (the state word is always shown too). */
export function stateTone(state: string): Tone | undefined {
  if (state === "running") return "good";
  if (state === "crashed" || state === "error") return "bad";
  if (state === "stopped") return "dim";
  return "busy";
}

/** Several lines; a line's place on the screen is its identity. */
export function Lines({ lines }: { lines: ReadonlyArray<LineProps | string> }) {
  return (
    <>
      {lines.map((l, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: screen lines are identified by their position
        <Line key={i} {...(typeof l === "string" ? { text: l } : l)} />
      ))}
    </>
  );
}
