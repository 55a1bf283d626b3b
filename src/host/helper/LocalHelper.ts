/**
 * The helper's real verbs run in this process over a CommandRunner: what unit
 * tests put behind the daemon's services (with a FakeIpHost runner), so the
 * verb code, not a stand-in, decides what happens. Not used in production:
 * there the verbs run in the separate root helper (HelperClient).
 */
import { type HelperContext, HelperError } from "../../helper/context.js";
import { handleLine } from "../../helper/main.js";
import type { HelperVerb, HelperVerbs, PrivilegedHelper } from "../../helper/protocol.js";
import type { CommandRunner } from "../runner.js";
import { helperRefusal } from "./HelperClient.js";

export interface LocalHelperIds {
  uid: number;
  gid: number;
  vmmUid: number;
  vmmGid: number;
}

/** A HelperContext whose commands go to `runner` (failures become COMMAND_FAILED, as in the helper). */
export function runnerContext(runner: CommandRunner, ids: LocalHelperIds): HelperContext {
  return {
    ...ids,
    run: async (argv, opts = {}) => {
      const r = await runner.run(argv, { allowFailure: true, ...(opts.input ? { input: opts.input } : {}) });
      if (r.code !== 0 && !opts.allowFailure) {
        const why = r.stderr.trim().split("\n").slice(-3).join("; ") || `exit code ${r.code}`;
        throw new HelperError("COMMAND_FAILED", `\`${argv.join(" ")}\` failed: ${why}`);
      }
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

export class LocalHelper implements PrivilegedHelper {
  private nextId = 1;
  constructor(readonly ctx: HelperContext) {}

  async call<V extends HelperVerb>(verb: V, args: HelperVerbs[V]["args"]): Promise<HelperVerbs[V]["result"]> {
    const res = await handleLine(this.ctx, JSON.stringify({ id: this.nextId++, verb, args }));
    if (!res.ok) throw helperRefusal(verb, res.error);
    return res.result as HelperVerbs[V]["result"];
  }
}
