/** Idempotent schema steps for migrations: each checks before it changes anything. */
import type { SqliteDb } from "./db.js";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Identifiers come from code, never from users; refuse anything odd rather than quote it. */
function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`bad SQL identifier ${JSON.stringify(name)}`);
  return name;
}

export function hasTable(db: SqliteDb, table: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !== undefined;
}

export function hasColumn(db: SqliteDb, table: string, column: string): boolean {
  const cols = db.prepare(`PRAGMA table_xinfo(${ident(table)})`).all() as Array<{ name: string }>;
  return cols.some((c) => c.name === column);
}

export function hasIndex(db: SqliteDb, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?").get(name) !== undefined;
}

/** `ALTER TABLE table ADD COLUMN column ddl` unless the column exists. Returns true when it added it. */
export function addColumnIfMissing(db: SqliteDb, table: string, column: string, ddl: string): boolean {
  if (hasColumn(db, table, column)) return false;
  db.exec(`ALTER TABLE ${ident(table)} ADD COLUMN ${ident(column)} ${ddl}`);
  return true;
}

/** `ALTER TABLE table DROP COLUMN column` (SQLite >= 3.35) if the column exists. Returns true when it dropped it. */
export function dropColumnIfExists(db: SqliteDb, table: string, column: string): boolean {
  if (!hasTable(db, table) || !hasColumn(db, table, column)) return false;
  db.exec(`ALTER TABLE ${ident(table)} DROP COLUMN ${ident(column)}`);
  return true;
}

export interface IndexOptions {
  unique?: boolean;
}

/** `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON table (columns)`. */
export function createIndexIfMissing(
  db: SqliteDb,
  name: string,
  table: string,
  columns: readonly string[],
  opts: IndexOptions = {},
): void {
  const cols = columns.map(ident).join(", ");
  db.exec(
    `CREATE ${opts.unique ? "UNIQUE " : ""}INDEX IF NOT EXISTS ${ident(name)} ON ${ident(table)} (${cols})`,
  );
}
