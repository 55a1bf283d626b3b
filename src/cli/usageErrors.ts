import type { Command, CommanderError } from "commander";
import { ErrorCodes } from "../errors/index.js";
import type { Out } from "./render/output.js";

/**
 * With --json, commander's own usage messages are silenced on every command,
 * so the one JSON error from `renderUsageErrorJson` is all that reaches stderr.
 */
export function silenceUsageText(cmd: Command): void {
  cmd.configureOutput({ outputError: () => {}, writeErr: () => {} });
  for (const sub of cmd.commands) silenceUsageText(sub);
}

/** The words of the command the error is about (e.g. "vm start"), from argv. */
function commandPath(program: Command, argv: string[]): string {
  const words: string[] = [];
  let cmd: Command | undefined = program;
  for (const a of argv) {
    const sub: Command | undefined = cmd?.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    words.push(a);
    cmd = sub;
  }
  return words.join(" ");
}

/** {error:{code:"USAGE",message,hint}} on stderr for a commander usage error; returns exit code 2. */
export function renderUsageErrorJson(out: Out, e: CommanderError, program: Command, argv: string[]): number {
  const path = commandPath(program, argv);
  const error = {
    code: ErrorCodes.USAGE,
    message: e.message.replace(/^error:\s*/, ""),
    hint: `run \`banger ${path ? `${path} ` : ""}--help\` for usage`,
  };
  out.err(`${JSON.stringify({ error })}\n`);
  return 2;
}
