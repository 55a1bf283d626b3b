import { open } from "node:fs/promises";

/** The last `n` lines of a log (reads at most 8 KiB from its end), from FILE.1 too just after a rotation; "" when absent. */
export async function lastLines(file: string, n: number): Promise<string> {
  const text = await tailOf(file, n);
  const have = text ? text.split("\n").length : 0;
  if (have >= n) return text;
  const before = await tailOf(`${file}.1`, n - have);
  return [before, text].filter(Boolean).join("\n");
}

async function tailOf(file: string, n: number): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, "r");
    const { size } = await fh.stat();
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString("utf8").replace(/\r/g, "").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  } finally {
    await fh?.close();
  }
}
