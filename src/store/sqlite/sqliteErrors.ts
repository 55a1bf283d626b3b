/** Turning better-sqlite3 errors into BangerErrors that name the database file. */
import Database from "better-sqlite3";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";

type SqliteError = InstanceType<typeof Database.SqliteError>;

export function isSqliteError(e: unknown): e is SqliteError {
  return e instanceof Database.SqliteError;
}

/** True for a UNIQUE or PRIMARY KEY violation on `table.column`. */
export function isUniqueViolation(e: unknown, table: string, column: string): boolean {
  return (
    isSqliteError(e) &&
    (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY") &&
    e.message.includes(`${table}.${column}`)
  );
}

const HINTS: Record<string, string> = {
  SQLITE_BUSY: "another banger process holds the database lock; try again, or stop the other process",
  SQLITE_CANTOPEN: "check that the directory exists and that you may write to it",
  SQLITE_READONLY: "the database file or its directory is read-only; check its owner and permissions",
  SQLITE_NOTADB: "the file is not a SQLite database: move it aside and let banger create a new one",
  SQLITE_CORRUPT:
    "the database file is damaged: move it aside (banger recreates it) or repair it with sqlite3 .recover",
  SQLITE_FULL: "the disk is full",
};

function hintFor(code: string): string | undefined {
  for (const [prefix, hint] of Object.entries(HINTS)) if (code.startsWith(prefix)) return hint;
  return undefined;
}

/** BangerErrors pass through; anything else becomes STORE, naming the database. */
export function toStoreError(e: unknown, dbPath: string): BangerError {
  if (isBangerError(e)) return e;
  const code = isSqliteError(e) ? e.code : undefined;
  const msg = e instanceof Error ? e.message : String(e);
  const hint =
    code !== undefined
      ? hintFor(code)
      : /directory does not exist/.test(msg)
        ? "create the directory first (bangerd creates its state directory when it starts)"
        : undefined;
  return new BangerError(ErrorCodes.STORE, `database ${dbPath}: ${msg}`, {
    cause: e,
    ...(hint ? { hint } : {}),
    ...(code ? { details: { sqliteCode: code } } : {}),
  });
}

/** Run `fn`, converting whatever it throws with toStoreError. */
export function guard<T>(dbPath: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toStoreError(e, dbPath);
  }
}
