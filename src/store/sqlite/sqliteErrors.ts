/** Turning node:sqlite errors into BangerErrors that name the database file. */
import path from "node:path";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";

/** What node:sqlite throws: code ERR_SQLITE_ERROR, errcode the (extended) SQLite result code. */
interface SqliteError extends Error {
  code: "ERR_SQLITE_ERROR";
  errcode: number;
  errstr: string;
}

export function isSqliteError(e: unknown): e is SqliteError {
  return e instanceof Error && (e as Partial<SqliteError>).code === "ERR_SQLITE_ERROR";
}

/** SQLite's primary result codes (the low byte of an extended code), by number. */
const PRIMARY = [
  "SQLITE_OK",
  "SQLITE_ERROR",
  "SQLITE_INTERNAL",
  "SQLITE_PERM",
  "SQLITE_ABORT",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_NOMEM",
  "SQLITE_READONLY",
  "SQLITE_INTERRUPT",
  "SQLITE_IOERR",
  "SQLITE_CORRUPT",
  "SQLITE_NOTFOUND",
  "SQLITE_FULL",
  "SQLITE_CANTOPEN",
  "SQLITE_PROTOCOL",
  "SQLITE_EMPTY",
  "SQLITE_SCHEMA",
  "SQLITE_TOOBIG",
  "SQLITE_CONSTRAINT",
  "SQLITE_MISMATCH",
  "SQLITE_MISUSE",
  "SQLITE_NOLFS",
  "SQLITE_AUTH",
  "SQLITE_FORMAT",
  "SQLITE_RANGE",
  "SQLITE_NOTADB",
];
/** The extended codes banger tells apart (sqlite3.h). */
const EXTENDED: Record<number, string> = {
  261: "SQLITE_BUSY_RECOVERY",
  517: "SQLITE_BUSY_SNAPSHOT",
  773: "SQLITE_BUSY_TIMEOUT",
  275: "SQLITE_CONSTRAINT_CHECK",
  787: "SQLITE_CONSTRAINT_FOREIGNKEY",
  1299: "SQLITE_CONSTRAINT_NOTNULL",
  1555: "SQLITE_CONSTRAINT_PRIMARYKEY",
  2067: "SQLITE_CONSTRAINT_UNIQUE",
};

/** The name of a SQLite result code, e.g. 2067 -> SQLITE_CONSTRAINT_UNIQUE. */
export function sqliteCodeName(errcode: number): string {
  return EXTENDED[errcode] ?? PRIMARY[errcode & 0xff] ?? `SQLITE_${errcode}`;
}

function codeOf(e: unknown): string | undefined {
  return isSqliteError(e) && typeof e.errcode === "number" ? sqliteCodeName(e.errcode) : undefined;
}

/** True for a UNIQUE or PRIMARY KEY violation on `table.column`. */
export function isUniqueViolation(e: unknown, table: string, column: string): boolean {
  return (
    isSqliteError(e) &&
    (codeOf(e) === "SQLITE_CONSTRAINT_UNIQUE" || codeOf(e) === "SQLITE_CONSTRAINT_PRIMARYKEY") &&
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
};

function hintFor(code: string): string | undefined {
  for (const [prefix, hint] of Object.entries(HINTS)) if (code.startsWith(prefix)) return hint;
  return undefined;
}

/** The database could not grow: its filesystem is full (the database needs only a few KiB more). */
function fullHint(dir: string): string {
  return `the filesystem holding ${dir} is full: free disk space there (see \`df -h ${dir}\`): delete unused VMs (\`banger vm delete\`) or images (\`banger image delete\`), or move banger's state to a larger disk (XDG_STATE_HOME)`;
}

/** BangerErrors pass through; anything else becomes STORE, naming the database. */
export function toStoreError(e: unknown, dbPath: string): BangerError {
  if (isBangerError(e)) return e;
  const code = codeOf(e);
  const msg = e instanceof Error ? e.message : String(e);
  const hint =
    code !== undefined
      ? code.startsWith("SQLITE_FULL")
        ? fullHint(path.dirname(dbPath))
        : hintFor(code)
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
