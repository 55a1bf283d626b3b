import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse, TomlError } from "smol-toml";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { Env, Paths } from "./paths.js";
import type { ConfigProblem, ResolvedConfig } from "./types.js";
import { validateConfig } from "./validate.js";

/** The text of the config file, or null when it does not exist. Any other read error is thrown as it is. */
export async function readConfigText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return null;
    throw new BangerError(ErrorCodes.CONFIG_INVALID, `cannot read ${file}: ${err.message}`, {
      hint: `check that ${file} is a readable file (or remove it to use the defaults)`,
      cause: e,
    });
  }
}

/** Parse TOML text. A syntax error becomes CONFIG_INVALID naming the file, line and column. */
export function parseConfigToml(text: string, file: string): unknown {
  try {
    return parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = (e.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw new BangerError(
      ErrorCodes.CONFIG_INVALID,
      `${file}:${e.line}:${e.column}: invalid TOML: ${reason}\n${e.codeblock.trimEnd()}`,
      {
        hint: `fix the TOML syntax at line ${e.line}, column ${e.column} of ${file} (strings need "quotes", tables are [name], file_sync entries are [[file_sync]])`,
        cause: e,
        details: { file, line: e.line, column: e.column },
      },
    );
  }
}

/** The multi-line message and the hint of a CONFIG_INVALID error listing every problem. */
export function describeProblems(
  problems: readonly ConfigProblem[],
  file: string,
): { message: string; hint: string } {
  const n = problems.length;
  const fromEnv = problems.filter((p) => p.path.endsWith(" (env)"));
  const subject = fromEnv.length === n ? "banger's environment" : path.basename(file);
  const lines = problems.map((p) => `  ${p.path}: ${p.message}`);
  const message = `${subject} has ${n} problem${n === 1 ? "" : "s"}:\n${lines.join("\n")}`;
  const vars = [...new Set(fromEnv.map((p) => p.path.replace(/ \(env\)$/, "")))];
  const parts: string[] = [];
  if (fromEnv.length < n) parts.push(`edit ${file}`);
  if (vars.length > 0) parts.push(`fix or unset ${vars.join(", ")}`);
  return { message, hint: `${parts.join(", and ")}; then run \`banger config show\` to check` };
}

/**
 * Load the configuration: ConfigDir/config.toml when it exists (no file means all
 * defaults), then the BANGER_* environment overrides. Throws CONFIG_INVALID with
 * every problem in `details` when anything is wrong.
 */
export async function loadConfig(paths: Paths, env: Env): Promise<ResolvedConfig> {
  const file = paths.configFile;
  const text = await readConfigText(file);
  const raw = text === null ? null : parseConfigToml(text, file);
  const { config, problems } = validateConfig(raw, env);
  if (config === null) {
    const { message, hint } = describeProblems(problems, file);
    throw new BangerError(ErrorCodes.CONFIG_INVALID, message, { hint, details: problems });
  }
  return { ...config, file: text === null ? null : file };
}
