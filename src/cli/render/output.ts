/** Small output helpers shared by the commands. Only the CLI formats for a person. */
export interface Out {
  /** Standard output. */
  write(s: string): void;
  /** Standard error. */
  err(s: string): void;
  /** Colour allowed (a TTY, and NO_COLOR not set). */
  color: boolean;
}

export function processOut(): Out {
  const color = !!process.stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  return {
    write: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    color,
  };
}

export function json(out: Out, data: unknown): void {
  out.write(`${JSON.stringify(data, null, 2)}\n`);
}

type Paint = "red" | "yellow" | "green" | "dim" | "bold";
const CODES: Record<Paint, [number, number]> = {
  red: [31, 39],
  yellow: [33, 39],
  green: [32, 39],
  dim: [2, 22],
  bold: [1, 22],
};

export function paint(out: Out, c: Paint, s: string): string {
  if (!out.color) return s;
  const [a, b] = CODES[c];
  return `\u001b[${a}m${s}\u001b[${b}m`;
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  const lines = rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

export function formatUptime(sec: number): string {
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${sec % 60 ? `${sec % 60}s` : ""}`;
  const h = Math.floor(sec / 3600);
  if (h < 48) return `${h}h${Math.floor((sec % 3600) / 60)}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}
