/**
 * `banger vm exec`: run a command in the guest through the agent, streaming
 * stdin (-i), stdout and stderr live; -t gives it a pty sized like the local
 * terminal (raw mode, resizes followed). Ctrl-C and SIGTERM go to the guest
 * command; the exit code is the command's (128+N when a signal N killed it,
 * 124 when --timeout killed it, like timeout(1)).
 */
import { type Command, InvalidArgumentError } from "commander";
import type { VmExecParams } from "../../api/methods.js";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { RpcClient } from "../../rpc/client.js";
import type { CliContext } from "../context.js";
import { InputSender } from "../stream/InputSender.js";

export interface ExecOpts {
  cwd: string;
  env: string[];
  timeout?: number;
  interactive?: boolean;
  tty?: boolean;
}

const SIGNALS: Array<[NodeJS.Signals, number]> = [
  ["SIGINT", 2],
  ["SIGTERM", 15],
  ["SIGHUP", 1],
];

/** `K=V` strings as an env object; a malformed one is a usage error naming it. */
export function parseEnv(list: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq <= 0) {
      throw new BangerError(ErrorCodes.USAGE, `--env ${JSON.stringify(kv)}: expected KEY=VALUE`, {
        hint: "for example --env LANG=C.UTF-8 (repeat --env for more)",
      });
    }
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

function timeoutOpt(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new InvalidArgumentError("give seconds, more than 0 and at most 86400");
  }
  return n;
}

export function registerExec(vm: Command, ctx: () => CliContext): void {
  vm.command("exec")
    .description(
      "run a command in the guest through the agent (no SSH needed), streaming its output; exits with its exit code (128+N for signal N, 124 on --timeout)",
    )
    .argument("<name>", "VM name")
    .argument("<command...>", "the command and its arguments (after --)")
    .option("--cwd <dir>", "working directory in the guest", "/root")
    .option("-e, --env <KEY=VALUE>", "set a variable (repeatable)", (v, a: string[]) => [...a, v], [])
    .option("--timeout <seconds>", "kill the command after this long (exit code 124)", timeoutOpt)
    .option("-i, --interactive", "stream this terminal's stdin to the command")
    .option("-t, --tty", "run on a pty in the guest, sized like this terminal (implies -i)")
    .action(async (name: string, command: string[], o: ExecOpts) => {
      const c = ctx();
      process.exitCode = await execAction(await c.client(), name, command, o);
    });
}

/** The command's exit code. */
export async function execAction(
  client: RpcClient,
  name: string,
  argv: string[],
  o: ExecOpts,
): Promise<number> {
  const tty = !!o.tty;
  const stdin = tty || !!o.interactive;
  const params: VmExecParams = {
    name,
    argv,
    cwd: o.cwd,
    env: parseEnv(o.env ?? []),
    ...(stdin ? { stdin: true as const } : {}),
    ...(o.timeout ? { timeoutMs: Math.round(o.timeout * 1000) } : {}),
    ...(tty ? { pty: { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 } } : {}),
  };
  let id = -1;
  const result = client.call("vm.exec", params, {
    onId: (i) => {
      id = i;
    },
    onEvent: (e) => {
      if (e.kind === "progress" && e.stage === "wake") process.stderr.write(`banger: ${e.message}\n`);
      if (e.kind !== "exec-output") return;
      (e.stream === "stdout" ? process.stdout : process.stderr).write(Buffer.from(e.data, "base64"));
    },
  });
  const sender = new InputSender(client, id);
  const undo = attachTerminal(sender, tty, stdin);
  try {
    const r = await result;
    if (r.timedOut)
      process.stderr.write(`banger: the command ran out of time (--timeout ${o.timeout} s); killed\n`);
    return r.exitCode;
  } finally {
    undo();
  }
}

/** Forward signals, stdin and (with a pty) raw mode and resizes; returns the undo. */
function attachTerminal(sender: InputSender, tty: boolean, stdin: boolean): () => void {
  const handlers = SIGNALS.map(([sig, n]) => {
    const h = () => sender.post({ signal: n });
    process.on(sig, h);
    return () => process.off(sig, h);
  });
  const raw = tty && process.stdin.isTTY;
  if (raw) process.stdin.setRawMode(true);
  const onResize = () => sender.post({ resize: { rows: process.stdout.rows, cols: process.stdout.columns } });
  if (tty) process.stdout.on("resize", onResize);
  let stopped = false;
  if (stdin) void pumpStdin(sender, () => stopped);
  return () => {
    stopped = true;
    for (const off of handlers) off();
    process.stdout.off("resize", onResize);
    if (raw) process.stdin.setRawMode(false);
    if (stdin) process.stdin.destroy();
  };
}

async function pumpStdin(sender: InputSender, stopped: () => boolean): Promise<void> {
  try {
    for await (const chunk of process.stdin) {
      if (stopped()) return;
      await sender.send({ data: (chunk as Buffer).toString("base64") });
    }
    if (!stopped()) await sender.send({ eof: true });
  } catch {
    /* the call ended or failed: its result says why */
  }
}
