/**
 * The SQLite connection banger uses: Node's built-in node:sqlite (no native
 * build to install; see docs/decisions/sqlite.md), with the few conveniences
 * the store relies on: pluck(), pragma(), IMMEDIATE transactions that nest
 * as savepoints, and rows as plain objects.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

export interface RunResult {
  changes: number | bigint;
  lastInsertRowid: number | bigint;
}

/** A prepared statement. pluck() gives the first column of each row instead of the row. */
export class Statement {
  constructor(
    private readonly s: StatementSync,
    private readonly plucked = false,
  ) {}

  pluck(): Statement {
    return new Statement(this.s, true);
  }

  get(...args: unknown[]): unknown {
    const row = this.s.get(...bind(args)) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : this.shape(row);
  }

  all(...args: unknown[]): unknown[] {
    return (this.s.all(...bind(args)) as Record<string, unknown>[]).map((r) => this.shape(r));
  }

  run(...args: unknown[]): RunResult {
    return this.s.run(...bind(args));
  }

  private shape(row: Record<string, unknown>): unknown {
    if (this.plucked) {
      for (const k in row) return row[k];
      return undefined;
    }
    return { ...row };
  }
}

/**
 * Arguments as node:sqlite takes them: a leading plain object binds named
 * parameters (@name), the rest bind in order; booleans become 0/1.
 */
function bind(args: unknown[]): SQLInputValue[] {
  return args.map((a) => {
    if (typeof a === "boolean") return a ? 1 : 0;
    if (a !== null && typeof a === "object" && !ArrayBuffer.isView(a)) {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a)) o[k] = typeof v === "boolean" ? (v ? 1 : 0) : v;
      return o as unknown as SQLInputValue;
    }
    return a as SQLInputValue;
  });
}

export interface OpenOptions {
  readOnly?: boolean;
}

export class SqliteDb {
  private readonly db: DatabaseSync;
  private depth = 0;

  /** Open (creating unless readOnly) the database file at `name`; `:memory:` for a private one. */
  constructor(
    readonly name: string,
    opts: OpenOptions = {},
  ) {
    this.db = new DatabaseSync(name, { readOnly: opts.readOnly ?? false });
  }

  get open(): boolean {
    return this.db.isOpen;
  }

  get inTransaction(): boolean {
    return this.db.isTransaction;
  }

  prepare(sql: string): Statement {
    return new Statement(this.db.prepare(sql));
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Run `PRAGMA sql`; `simple` returns the first column of the first row. */
  pragma(sql: string, opts: { simple?: boolean } = {}): unknown {
    const st = this.prepare(`PRAGMA ${sql}`);
    return opts.simple ? st.pluck().get() : st.all();
  }

  /**
   * Run `fn` in a transaction that takes the write lock up front (BEGIN
   * IMMEDIATE, waiting busy_timeout for it); commit when it returns, roll back
   * when it throws. Inside another transaction it becomes a savepoint.
   */
  immediate<T>(fn: () => T): T {
    if (this.db.isTransaction) return this.savepoint(fn);
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      this.db.exec("COMMIT");
      return r;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
  }

  private savepoint<T>(fn: () => T): T {
    const name = `banger_sp${++this.depth}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const r = fn();
      this.db.exec(`RELEASE ${name}`);
      return r;
    } catch (e) {
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
      throw e;
    } finally {
      this.depth--;
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
