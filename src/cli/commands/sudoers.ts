/**
 * `banger sudoers [--user U] [--install] [--json]`: the one sudoers line that
 * lets a normal user start banger's privileged helper (pinned to its sha256,
 * no environment passing, nothing else), and, as root, the install step that
 * puts the helper and a Node binary into the root-only directory.
 */
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { Command } from "commander";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import { HELPER_INSTALL_PATH } from "../../helper/protocol.js";
import {
  HELPER_NODE_PATH,
  installedHelperText,
  installHelper,
  sha256Hex,
  sudoersFile,
  sudoersLine,
} from "../../host/helper/install.js";
import { NodeCommandRunner } from "../../host/node/NodeCommandRunner.js";
import type { CliContext } from "../context.js";
import { json } from "../render/output.js";

const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

function pickUser(given: string | undefined): string {
  const u = given ?? process.env.SUDO_USER ?? userInfo().username;
  if (!USER_RE.test(u)) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `--user: "${u}" is not a user name`, {
      hint: "pass the login name of the user who runs banger, e.g. --user alice",
    });
  }
  return u;
}

async function checkUserExists(user: string): Promise<void> {
  const r = await new NodeCommandRunner().run(["id", "-u", "--", user], { allowFailure: true });
  if (r.code !== 0) {
    throw new BangerError(ErrorCodes.INVALID_ARGUMENT, `--user: there is no user "${user}" on this host`, {
      hint: "create the user first, or pass an existing login name",
    });
  }
}

/** Validate with `visudo -cf`, then move into place (0440): a broken file never reaches /etc/sudoers.d. */
async function writeSudoers(user: string, line: string): Promise<string> {
  const dest = sudoersFile(user);
  const tmp = `${dest}.tmp${process.pid}`; // sudo skips files with a "." in /etc/sudoers.d
  const body = `# banger: lets ${user} start banger's privileged helper (and nothing else) without a password.\n# Written by \`banger sudoers --install\`; refresh it after upgrading banger.\n${line}\n`;
  writeFileSync(tmp, body, { mode: 0o440 });
  try {
    const visudo = existsSync("/usr/sbin/visudo") ? "/usr/sbin/visudo" : "visudo";
    const r = await new NodeCommandRunner().run([visudo, "-cf", tmp], { allowFailure: true });
    if (r.code !== 0) {
      throw new BangerError(
        ErrorCodes.COMMAND_FAILED,
        `visudo rejected the sudoers line: ${r.stderr.trim() || r.stdout.trim()}`,
        {
          hint: "install sudo (apt-get install sudo), or add the printed line with `visudo -f` yourself",
        },
      );
    }
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
  return dest;
}

export function registerSudoers(program: Command, ctx: () => CliContext): void {
  program
    .command("sudoers")
    .description(
      "print the sudoers line that lets a user run banger's privileged helper; --install puts it in place",
    )
    .option("--user <name>", "the user who runs banger (default: $SUDO_USER, else you)")
    .option("--install", "as root: install the helper (and, with --user, the sudoers file)")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; install?: boolean; json?: boolean }) => {
      const c = ctx();
      const user = pickUser(o.user);
      const digest = sha256Hex(installedHelperText());
      const line = sudoersLine(user, digest);
      let installed: { helper: string; node: string; sudoers: string | null } | null = null;
      if (o.install) {
        if ((process.getuid?.() ?? 0) !== 0) {
          throw new BangerError(
            ErrorCodes.PREFLIGHT_FAILED,
            "banger sudoers --install writes root-owned files and needs root",
            {
              hint: `run: sudo ${process.argv[1] ?? "banger"} sudoers --install --user ${user}`,
            },
          );
        }
        if (o.user !== undefined) await checkUserExists(user);
        installHelper();
        const sudoers = o.user !== undefined ? await writeSudoers(user, line) : null;
        installed = { helper: HELPER_INSTALL_PATH, node: HELPER_NODE_PATH, sudoers };
      }
      if (o.json) return json(c.out, { user, digest, line, helper: HELPER_INSTALL_PATH, installed });
      if (installed) {
        c.out.write(`installed ${installed.helper} and ${installed.node}\n`);
        if (installed.sudoers) c.out.write(`installed ${installed.sudoers}:\n`);
        else
          c.out.write(
            `to let a normal user run it, add this line with \`visudo -f ${sudoersFile(user)}\`:\n`,
          );
      }
      c.out.write(`${line}\n`);
    });
}
