import { Command, CommanderError } from "commander";
import { buildInfo } from "../buildInfo.js";
import { BangerError, ErrorCodes, toBangerError } from "../errors/index.js";
import { registerConfig } from "./commands/config.js";
import { registerDaemon } from "./commands/daemon.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerImage } from "./commands/image.js";
import { registerKernel } from "./commands/kernel.js";
import { registerSshConfig } from "./commands/sshConfig.js";
import { registerTui } from "./commands/tui.js";
import { registerVersion } from "./commands/version.js";
import { registerVm } from "./commands/vm.js";
import { CliContext } from "./context.js";
import { type DefaultsView, loadDefaults } from "./defaults.js";
import { renderError } from "./render/errors.js";
import { processOut } from "./render/output.js";
import { renderUsageErrorJson, silenceUsageText } from "./usageErrors.js";

export function buildProgram(ctx: () => CliContext, defaults: DefaultsView | null = null): Command {
  const program = new Command("banger")
    .description("fresh, isolated microVMs for development, in one command")
    .version(`${buildInfo().version} (build ${buildInfo().buildId})`, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerVm(program, ctx, defaults);
  registerImage(program, ctx);
  registerKernel(program, ctx);
  registerSshConfig(program, ctx);
  registerDaemon(program, ctx);
  registerDoctor(program, ctx);
  registerConfig(program, ctx);
  registerVersion(program, ctx);
  registerTui(program, ctx);
  for (const c of program.commands) {
    c.exitOverride();
    for (const s of c.commands) s.exitOverride();
  }
  return program;
}

/** Run the CLI; returns the exit code (0 ok, 2 usage/config errors, 1 otherwise). */
export async function main(argv: string[]): Promise<number> {
  let ctx: CliContext | undefined;
  const getCtx = () => {
    ctx ??= new CliContext();
    return ctx;
  };
  const asJson = argv.includes("--json");
  let program: Command | undefined;
  try {
    // Help of `vm create` / `vm run` shows the resolved defaults; resolve them only when help is asked for.
    const wantsVmHelp = argv[0] === "vm" && (argv.includes("--help") || argv.includes("-h"));
    const defaults = wantsVmHelp ? await loadDefaults(getCtx()).catch(() => null) : null;
    program = buildProgram(getCtx, defaults);
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

function withBugHint(e: BangerError): BangerError {
  if (e.hint) return e;
  return new BangerError(e.code, e.message, {
    hint: "this is a bug in banger; the daemon log may say more",
    cause: e,
  });
}
