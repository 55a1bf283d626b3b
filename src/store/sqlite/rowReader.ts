/**
 * Typed, checked access to one raw row. Anything that does not match what the
 * schema promises (wrong type, unknown enum value, malformed timestamp or JSON)
 * becomes a STORE_CORRUPT error naming the table, the row and the column.
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { shellQuote } from "../../util/shellQuote.js";

export type RawRow = Record<string, unknown>;

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Date.parse rolls 2024-02-31 over to March; refuse days the month does not have. */
function realDay(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === "bigint") return `${v}`;
  if (v instanceof Uint8Array) return `a ${v.length}-byte blob`;
  return String(v);
}

export class RowReader {
  readonly id: string;
  readonly name: string;

  constructor(
    readonly table: string,
    readonly dbPath: string,
    private readonly row: RawRow,
  ) {
    this.id = typeof row.id === "string" ? row.id : show(row.id);
    this.name = typeof row.name === "string" ? row.name : show(row.name);
  }

  /** STORE_CORRUPT for `column`; `why` completes "column C has VALUE, which ...". */
  corrupt(column: string, why: string): BangerError {
    return this.problem(column, `has ${show(this.row[column])}, which ${why}`);
  }

  /** STORE_CORRUPT for `column`; `what` completes "column C ...". */
  problem(column: string, what: string): BangerError {
    const value = this.row[column];
    const where =
      typeof this.row.id === "string"
        ? `id = '${this.row.id.replace(/'/g, "''")}'`
        : `rowid = ${show(this.row._rowid)}`;
    const sql = `DELETE FROM ${this.table} WHERE ${where}`;
    return new BangerError(
      ErrorCodes.STORE_CORRUPT,
      `${this.table} row "${this.name}" (id ${this.id}) is corrupt: column ${column} ${what}`,
      {
        hint: `fix the value or delete the row with: ${shellQuote(["sqlite3", this.dbPath, sql])}`,
        details: { table: this.table, id: this.id, name: this.name, column, value: show(value) },
      },
    );
  }

  text(col: string): string {
    const v = this.row[col];
    if (typeof v !== "string") throw this.corrupt(col, "is not text");
    return v;
  }

  textOrNull(col: string): string | null {
    return this.row[col] === null ? null : this.text(col);
  }

  int(col: string, min = 0): number {
    const v = this.row[col];
    if (typeof v !== "number" || !Number.isSafeInteger(v)) throw this.corrupt(col, "is not an integer");
    if (v < min) throw this.corrupt(col, `is below the minimum ${min}`);
    return v;
  }

  intOrNull(col: string, min = 0): number | null {
    return this.row[col] === null ? null : this.int(col, min);
  }

  date(col: string): Date {
    const v = this.row[col];
    const d = typeof v === "string" && ISO_8601.test(v) && realDay(v) ? new Date(v) : undefined;
    if (d === undefined || Number.isNaN(d.getTime())) throw this.corrupt(col, "is not an ISO-8601 timestamp");
    return d;
  }

  dateOrNull(col: string): Date | null {
    return this.row[col] === null ? null : this.date(col);
  }

  oneOf<T extends string>(col: string, values: readonly T[]): T {
    const v = this.row[col];
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
      throw this.corrupt(col, `is not one of ${values.join(", ")}`);
    }
    return v as T;
  }

  oneOfOrNull<T extends string>(col: string, values: readonly T[]): T | null {
    return this.row[col] === null ? null : this.oneOf(col, values);
  }

  /** JSON text checked by `valid`; null stays null. `what` describes the expected shape. */
  json<T>(col: string, valid: (v: unknown) => v is T, what: string): T | null {
    const raw = this.textOrNull(col);
    if (raw === null) return null;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw this.corrupt(col, "is not valid JSON");
    }
    if (!valid(v)) throw this.corrupt(col, `is not ${what}`);
    return v;
  }

  /** True when every one of `cols` is NULL; corrupt when only some are (a half-written group). */
  allNull(cols: readonly string[]): boolean {
    const nulls = cols.filter((c) => this.row[c] === null);
    if (nulls.length === cols.length) return true;
    if (nulls.length > 0) {
      const set = cols.filter((c) => !nulls.includes(c)).join(", ");
      throw this.problem(nulls[0]!, `is NULL while ${set} is set (these columns are all set or all NULL)`);
    }
    return false;
  }
}
