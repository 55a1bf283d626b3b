/**
 * Stable error codes. They travel over the RPC as strings and decide the
 * CLI's exit code; never rename one, only add.
 */
export const ErrorCodes = {
  /** Bad command-line input (flags, arguments). */
  USAGE: "USAGE",
  /** config.toml is unreadable or invalid. */
  CONFIG_INVALID: "CONFIG_INVALID",
  /** A value given by the user is invalid (names, sizes, paths). */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** The XDG layout resolved to something unusable (relative path, no HOME). */
  PATHS_INVALID: "PATHS_INVALID",
  NOT_FOUND: "NOT_FOUND",
  ALREADY_EXISTS: "ALREADY_EXISTS",
  /** The object is in a state that does not allow the operation. */
  CONFLICT: "CONFLICT",
  /** A host prerequisite is missing (binary, device, permission). */
  PREFLIGHT_FAILED: "PREFLIGHT_FAILED",
  /** The daemon could not be reached or started. */
  DAEMON_UNAVAILABLE: "DAEMON_UNAVAILABLE",
  /** Another daemon already owns this state directory. */
  DAEMON_RUNNING: "DAEMON_RUNNING",
  /** The peer speaks a protocol version we do not. */
  PROTOCOL: "PROTOCOL",
  /** Unknown RPC method. */
  UNKNOWN_METHOD: "UNKNOWN_METHOD",
  /** A stored row is malformed. */
  STORE_CORRUPT: "STORE_CORRUPT",
  STORE: "STORE",
  /** An external command failed. */
  COMMAND_FAILED: "COMMAND_FAILED",
  VMM: "VMM",
  TIMEOUT: "TIMEOUT",
  CANCELLED: "CANCELLED",
  INTERNAL: "INTERNAL",
  /** A catalog (embedded or the user's) is not valid JSON or breaks the format. */
  CATALOG_INVALID: "CATALOG_INVALID",
  /** The user's catalog URL cannot be read. */
  CATALOG_UNAVAILABLE: "CATALOG_UNAVAILABLE",
  /** A bundle download failed (HTTP status, network, short body). */
  DOWNLOAD_FAILED: "DOWNLOAD_FAILED",
  /** A downloaded file or a bundle member does not match its sha256. */
  CHECKSUM_MISMATCH: "CHECKSUM_MISMATCH",
  /** A bundle is malformed or unsafe (traversal, links, unexpected entries). */
  BUNDLE_INVALID: "BUNDLE_INVALID",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const USAGE_CODES: ReadonlySet<string> = new Set<string>([
  ErrorCodes.USAGE,
  ErrorCodes.CONFIG_INVALID,
  ErrorCodes.INVALID_ARGUMENT,
  ErrorCodes.PATHS_INVALID,
]);

/** 2 for usage and configuration errors, 1 for everything else. */
export function exitCodeFor(code: string): number {
  return USAGE_CODES.has(code) ? 2 : 1;
}
