import { Command, CommanderError } from "commander";
import { buildInfo } from "../buildInfo.js";
import { BangerError, ErrorCodes, toBangerError } from "../errors/index.js";
import { CliContext } from "./context.js";
import type { DefaultsView } from "./defaults.js";
import { renderError } from "./render/errors.js";
import { processOut } from "./render/output.js";
import { renderUsageErrorJson, silenceUsageText } from "./usageErrors.js";

/** `sub`: the subcommand the command line runs, for a command that registers only that one (vm). */
type Register = (
  program: Command,
  ctx: () => CliContext,
  defaults: DefaultsView | null,
  sub?: string,
) => void;

/**
 * The top-level commands, in help order; each module is imported only when
 * its command is run (or when help lists them all), so `banger vm list`
 * loads the vm command and nothing of the others (no Ink/React, no doctor).
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Register>]> = [
  ["vm", async () => (await import("./commands/vm.js")).registerVm],
  ["image", async () => (await import("./commands/image.js")).registerImage],
  ["kernel", async () => (await import("./commands/kernel.js")).registerKernel],
  ["ssh-config", async () => (await import("./commands/sshConfig.js")).registerSshConfig],
  ["daemon", async () => (await import("./commands/daemon.js")).registerDaemon],
  ["doctor", async () => (await import("./commands/doctor.js")).registerDoctor],
  ["config", async () => (await import("./commands/config.js")).registerConfig],
  ["version", async () => (await import("./commands/version.js")).registerVersion],
  ["tui", async () => (await import("./commands/tui.js")).registerTui],
  ["sudoers", async () => (await import("./commands/sudoers.js")).registerSudoers],
  ["events", async () => (await import("./commands/events.js")).registerEvents],
  ["mcp", async () => (await import("./commands/mcp.js")).registerMcp],
  ["system", async () => (await import("./commands/system.js")).registerSystem],
];

/** The command `argv` runs (its first word), or undefined when it names none (help, version, a typo). */
export function commandOf(argv: readonly string[]): string | undefined {
  const first = argv.find((a) => !a.startsWith("-"));
  return COMMANDS.some(([name]) => name === first) ? first : undefined;
}

/**
 * The subcommand word of `argv` when it is `<command> <sub> ...` and asks for
 * no help; undefined otherwise (then the command registers all its subcommands).
 */
export function subcommandOf(argv: readonly string[], command: string | undefined): string | undefined {
  if (command === undefined || argv[0] !== command) return undefined;
  if (argv.some((a) => a === "--help" || a === "-h")) return undefined;
  const sub = argv[1];
  return sub === undefined || sub.startsWith("-") ? undefined : sub;
}

/** The program with `only` registered (of it, only `sub` where it can), or every command when `only` is undefined. */
export async function buildProgram(
  ctx: () => CliContext,
  defaults: DefaultsView | null = null,
  only?: string,
  sub?: string,
): Promise<Command> {
  const program = new Command("banger")
    .description("fresh, isolated microVMs for development, in one command")
    .version(`${buildInfo().version} (build ${buildInfo().buildId})`, "-V, --version")
    .option("--host <ssh-url>", "work with the banger of another machine through ssh (or set BANGER_HOST)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const wanted = COMMANDS.filter(([name]) => only === undefined || name === only);
  const registers = await Promise.all(wanted.map(([, load]) => load()));
  for (const register of registers) register(program, ctx, defaults, sub);
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  return program;
}

/** Run the CLI; returns the exit code (0 ok, 2 usage/config errors, 1 otherwise). */
/** `--host URL` / `--host=URL` before the command: taken out of argv, it sets BANGER_HOST. */
export function takeHostOption(argv: readonly string[]): { argv: string[]; host?: string } {
  const rest = [...argv];
  for (let i = 0; i < rest.length && rest[i]!.startsWith("-"); i++) {
    const a = rest[i]!;
    if (a === "--host" && i + 1 < rest.length) return { argv: rest.toSpliced(i, 2), host: rest[i + 1]! };
    if (a.startsWith("--host=")) return { argv: rest.toSpliced(i, 1), host: a.slice(7) };
  }
  return { argv: rest };
}

export async function main(rawArgv: string[]): Promise<number> {
  const { argv, host } = takeHostOption(rawArgv);
  let ctx: CliContext | undefined;
  const getCtx = () => {
    ctx ??= new CliContext(host === undefined ? process.env : { ...process.env, BANGER_HOST: host });
    return ctx;
  };
  const asJson = argv.includes("--json");
  let program: Command | undefined;
  try {
    // Help of `vm create` / `vm run` shows the resolved defaults; resolve them only when help is asked for.
    const wantsVmHelp = argv[0] === "vm" && (argv.includes("--help") || argv.includes("-h"));
    const defaults = wantsVmHelp ? await loadVmDefaults(getCtx()) : null;
    const command = commandOf(argv);
    program = await buildProgram(getCtx, defaults, command, subcommandOf(argv, command));
    if (asJson) silenceUsageText(program);
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0 || e.code === "commander.helpDisplayed" || e.code === "commander.version")
        return 0;
      if (e.code === "commander.help") return 0;
      return asJson && program ? renderUsageErrorJson(processOut(), e, program, argv) : 2;
    }
    const err = toBangerError(e);
    return renderError(processOut(), err.code === ErrorCodes.INTERNAL ? withBugHint(err) : err, asJson);
  } finally {
    ctx?.close();
  }
}

async function loadVmDefaults(ctx: CliContext): Promise<DefaultsView | null> {
  const { loadDefaults } = await import("./defaults.js");
  return loadDefaults(ctx).catch(() => null);
}

function withBugHint(e: BangerError): BangerError {
  if (e.hint) return e;
  return new BangerError(e.code, e.message, {
    hint: "this is a bug in banger; the daemon log may say more",
    cause: e,
  });
}
