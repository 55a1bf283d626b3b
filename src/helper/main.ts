/**
 * banger-helper: the one privileged process. Reads one JSON request per
 * line on stdin, answers one JSON line on stdout, one request at a time.
 * It captures SUDO_UID/SUDO_GID, then clears its environment: nothing else
 * the caller controls reaches it but the arguments each verb validates.
 */
import { createInterface } from "node:readline";
import { callerIds, type HelperContext, HelperError, lookupVmmUser, trustedRun } from "./context.js";
import type { HelperResponse } from "./protocol.js";
import { VERBS } from "./verbs/index.js";

const MAX_LINE = 1024 * 1024;

function buildContext(): HelperContext {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const caller = callerIds(process.env, self);
  for (const k of Object.keys(process.env)) delete process.env[k];
  const vmm = caller.uid === 0 ? lookupVmmUser() : caller;
  return { ...caller, vmmUid: vmm?.uid ?? -1, vmmGid: vmm?.gid ?? -1, run: trustedRun };
}

/** Answer one request line; never throws. */
export async function handleLine(ctx: HelperContext, line: string): Promise<HelperResponse> {
  let id = 0;
  try {
    if (line.length > MAX_LINE) throw new HelperError("INVALID_ARGUMENT", "request line too long");
    const req = JSON.parse(line) as { id?: unknown; verb?: unknown; args?: unknown };
    if (typeof req !== "object" || req === null)
      throw new HelperError("INVALID_ARGUMENT", "request is not an object");
    id = typeof req.id === "number" && Number.isSafeInteger(req.id) ? req.id : 0;
    const verb = typeof req.verb === "string" ? req.verb : "";
    const handler = Object.hasOwn(VERBS, verb) ? VERBS[verb as keyof typeof VERBS] : undefined;
    if (!handler) throw new HelperError("UNKNOWN_VERB", `unknown verb "${verb.slice(0, 64)}"`);
    const result = await handler(ctx, req.args ?? {});
    return { id, ok: true, result: result ?? null };
  } catch (e) {
    const code =
      e instanceof HelperError ? e.code : e instanceof SyntaxError ? "INVALID_ARGUMENT" : "COMMAND_FAILED";
    const message = e instanceof Error ? e.message : String(e);
    return { id, ok: false, error: { code, message } };
  }
}

export async function helperMain(): Promise<void> {
  const ctx = buildContext();
  const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (line.trim() === "") continue;
    const res = await handleLine(ctx, line);
    process.stdout.write(`${JSON.stringify(res)}\n`);
  }
}

// Run directly from dist/src (tests); the bundle's entry is entry.ts.
const isMain = process.argv[1] !== undefined && /helper[/\\]main\.js$/.test(process.argv[1]);
if (isMain) {
  helperMain().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`banger-helper: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
