import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { BangerError, ErrorCodes } from "../errors/index.js";
import type { CommandRunner } from "../host/runner.js";
import type { Paths } from "./paths.js";
import type { ResolvedConfig } from "./types.js";

/** File name of banger's managed key inside Paths.sshDir. */
export const MANAGED_KEY_NAME = "id_ed25519";

export interface SshKeyLocation {
  /** Absolute path of the private key. */
  path: string;
  /** True for banger's own key (generated on first use), false for the user's ssh_key_path. */
  managed: boolean;
}

export interface SshKey {
  /** Absolute path of the private key (what `ssh -i` takes). */
  privateKey: string;
  /** The public key line, for example "ssh-ed25519 AAAA... banger", without a trailing newline. */
  publicKey: string;
  /** True when this call created the managed key. */
  generated: boolean;
  managed: boolean;
}

/** Where the SSH private key is: ssh_key_path from config (already absolute), else the managed key. */
export function resolveSshKeyPath(cfg: ResolvedConfig, paths: Paths): SshKeyLocation {
  const configured = cfg.ssh_key_path.value;
  if (configured !== null) return { path: configured, managed: false };
  return { path: path.join(paths.sshDir, MANAGED_KEY_NAME), managed: true };
}

/** The argv that generates the managed key. */
export function sshKeygenGenerateArgv(keyPath: string): string[] {
  return ["ssh-keygen", "-t", "ed25519", "-N", "", "-C", "banger", "-f", keyPath, "-q"];
}

/** The argv that prints the public key of a private key (never prompts: the passphrase is given as empty). */
export function sshKeygenPublicArgv(keyPath: string): string[] {
  return ["ssh-keygen", "-y", "-P", "", "-f", keyPath];
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

async function isFile(file: string): Promise<boolean | null> {
  try {
    return (await stat(file)).isFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

async function derivePublicKey(keyPath: string, runner: CommandRunner, what: string): Promise<string> {
  try {
    const r = await runner.run(sshKeygenPublicArgv(keyPath), { timeoutMs: 10_000 });
    const line = r.stdout.trim();
    if (line === "") throw new Error("ssh-keygen printed no public key");
    return line;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new BangerError(
      ErrorCodes.CONFIG_INVALID,
      `cannot derive the public key of ${what} ${keyPath}: ${why}`,
      {
        hint: `put its public key beside it as ${keyPath}.pub (a passphrase-protected key needs this)`,
        cause: e,
      },
    );
  }
}

/**
 * Make sure the SSH key exists and return it. The managed key is generated on
 * first use (directory 0700, key 0600, with a .pub). A configured ssh_key_path
 * must already exist and is never generated; a missing .pub beside it is derived
 * with `ssh-keygen -y` in memory, without writing into the user's directory.
 */
export async function ensureSshKey(
  cfg: ResolvedConfig,
  paths: Paths,
  runner: CommandRunner,
): Promise<SshKey> {
  const loc = resolveSshKeyPath(cfg, paths);
  if (!loc.managed) return userKey(loc.path, runner);
  return managedKey(loc.path, paths.sshDir, runner);
}

async function userKey(keyPath: string, runner: CommandRunner): Promise<SshKey> {
  const what = "ssh_key_path";
  const exists = await isFile(keyPath).catch((e: unknown) => {
    throw new BangerError(
      ErrorCodes.CONFIG_INVALID,
      `cannot read ${what} ${keyPath}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  });
  if (exists !== true) {
    const state = exists === null ? "does not exist" : "is not a file";
    throw new BangerError(ErrorCodes.CONFIG_INVALID, `${what} in config.toml is ${keyPath}, which ${state}`, {
      hint: `create it (ssh-keygen -t ed25519 -f ${keyPath}), or remove ${what} from config.toml to let banger manage its own key`,
    });
  }
  const pub = await readIfExists(`${keyPath}.pub`);
  const publicKey = pub === null ? await derivePublicKey(keyPath, runner, what) : pub.trim();
  return { privateKey: keyPath, publicKey, generated: false, managed: false };
}

async function managedKey(keyPath: string, dir: string, runner: CommandRunner): Promise<SshKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const pubPath = `${keyPath}.pub`;
  const generated = (await isFile(keyPath)) === null && (await generateOnce(keyPath, runner));
  await chmod(keyPath, 0o600);
  let pub = await readIfExists(pubPath);
  if (pub === null) {
    pub = await derivePublicKey(keyPath, runner, "banger's managed key");
    await writeFile(pubPath, `${pub}\n`, { mode: 0o644 });
  }
  return { privateKey: keyPath, publicKey: pub.trim(), generated, managed: true };
}

/**
 * Generate the managed key beside its place and link it in: of concurrent
 * first uses (20 `vm create` at once, in one daemon or several processes)
 * exactly one wins, the others use its key. True when this call won.
 */
async function generateOnce(keyPath: string, runner: CommandRunner): Promise<boolean> {
  const tmp = `${keyPath}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await runner.run(sshKeygenGenerateArgv(tmp), { timeoutMs: 30_000 });
    try {
      await link(tmp, keyPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
    await rename(`${tmp}.pub`, `${keyPath}.pub`);
    return true;
  } finally {
    await Promise.all([rm(tmp, { force: true }), rm(`${tmp}.pub`, { force: true })]);
  }
}
