import { BangerError, ErrorCodes } from "../errors/index.js";

/**
 * Splits a byte stream into JSON messages, one per line. Bounded: a line
 * longer than `maxBytes` is an error (the peer is broken or hostile).
 */
export class LineDecoder {
  private buf: Buffer[] = [];
  private len = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feed a chunk; returns the complete, parsed messages it finished. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      this.ensureRoom(piece.length);
      this.buf.push(piece);
      const line = Buffer.concat(this.buf).toString("utf8");
      this.buf = [];
      this.len = 0;
      start = nl + 1;
      if (line.trim() === "") continue;
      out.push(parseLine(line));
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.ensureRoom(rest.length);
      this.buf.push(Buffer.from(rest));
      this.len += rest.length;
    }
    return out;
  }

  private ensureRoom(n: number): void {
    if (this.len + n > this.maxBytes) {
      throw new BangerError(ErrorCodes.PROTOCOL, `message longer than ${this.maxBytes} bytes`);
    }
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new BangerError(ErrorCodes.PROTOCOL, `malformed message (not JSON): ${line.slice(0, 80)}`);
  }
}

export function encode(msg: unknown): string {
  return `${JSON.stringify(msg)}\n`;
}
