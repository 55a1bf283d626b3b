import { type BangerError, exitCodeFor } from "../../errors/index.js";
import { type Out, paint } from "./output.js";

/** Print an error for a person (or as JSON) and return the exit code. */
export function renderError(out: Out, e: BangerError, asJson: boolean): number {
  if (asJson) {
    out.write(`${JSON.stringify({ error: e.toPayload() }, null, 2)}\n`);
  } else {
    out.err(`${paint(out, "red", "error:")} ${e.message}\n`);
    if (e.hint) out.err(`  ${paint(out, "dim", "hint:")} ${e.hint}\n`);
  }
  return exitCodeFor(e.code);
}
