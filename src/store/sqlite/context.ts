/** What every SQLite repository shares: the connection, its path (for messages) and the clock. */

import { type BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import type { ListOptions, ListResult } from "../Store.js";
import type { SqliteDb } from "./db.js";
import { type RawRow, RowReader } from "./rowReader.js";
import { guard } from "./sqliteErrors.js";

export class SqliteContext {
  constructor(
    readonly db: SqliteDb,
    readonly path: string,
    readonly now: () => Date,
  ) {}

  /** A read: errors become BangerErrors naming the database. */
  read<T>(fn: () => T): T {
    return guard(this.path, fn);
  }

  /**
   * A write transaction, IMMEDIATE so it takes the write lock up front (and
   * waits busy_timeout for it) instead of failing when it upgrades from a read.
   * Inside another transaction it becomes a savepoint.
   */
  write<T>(fn: () => T): T {
    return guard(this.path, () => this.db.immediate(fn));
  }

  /** The first row of `sql`, parsed; undefined when there is none. */
  one<T>(table: string, parse: (r: RowReader) => T, sql: string, ...args: unknown[]): T | undefined {
    return this.read(() => {
      const row = this.db.prepare(sql).get(...args) as RawRow | undefined;
      return row === undefined ? undefined : parse(new RowReader(table, this.path, row));
    });
  }

  /** Every row of `sql`, parsed; strict unless `opts.skipCorrupt`. */
  all<T>(table: string, parse: (r: RowReader) => T, sql: string, args: unknown[]): T[];
  all<T>(
    table: string,
    parse: (r: RowReader) => T,
    sql: string,
    args: unknown[],
    opts?: ListOptions,
  ): T[] | ListResult<T>;
  all<T>(
    table: string,
    parse: (r: RowReader) => T,
    sql: string,
    args: unknown[],
    opts?: ListOptions,
  ): T[] | ListResult<T> {
    return this.read(() => {
      const rows = this.db.prepare(sql).all(...args) as RawRow[];
      if (!opts?.skipCorrupt) return rows.map((row) => parse(new RowReader(table, this.path, row)));
      const items: T[] = [];
      const problems: BangerError[] = [];
      for (const row of rows) {
        try {
          items.push(parse(new RowReader(table, this.path, row)));
        } catch (e) {
          if (!isBangerError(e) || e.code !== ErrorCodes.STORE_CORRUPT) throw e;
          problems.push(e);
        }
      }
      return { items, problems };
    });
  }
}
