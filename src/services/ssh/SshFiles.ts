import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { CommandRunner } from "../../host/runner.js";

export const HOST_KEY_NAME = "ssh_host_ed25519_key";

export interface SshEntry {
  name: string;
  ip: string;
  /** The VM's host public key line ("ssh-ed25519 AAAA... comment"). */
  hostKey: string;
}

/** Generate a VM's own SSH host key (ed25519) in its directory; returns both halves. */
export async function generateHostKey(
  runner: CommandRunner,
  vmDir: string,
  name: string,
): Promise<{ privateKey: Buffer; publicKey: string }> {
  const file = path.join(vmDir, HOST_KEY_NAME);
  await runner.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${name}`, "-f", file]);
  return { privateKey: await readFile(file), publicKey: (await readFile(`${file}.pub`, "utf8")).trim() };
}

/** The VM's host public key, or null when it has none (created by an older banger). */
export async function readHostKey(vmDir: string): Promise<string | null> {
  try {
    return (await readFile(path.join(vmDir, `${HOST_KEY_NAME}.pub`), "utf8")).trim();
  } catch {
    return null;
  }
}

/** known_hosts: each VM's own key under its name NAME.vm (ssh uses HostKeyAlias, so the address may change). */
export function renderKnownHosts(entries: readonly SshEntry[]): string {
  const keyPart = (k: string) => k.split(/\s+/).slice(0, 2).join(" ");
  return entries.map((e) => `${e.name}.vm ${keyPart(e.hostKey)}\n`).join("");
}

/** An ssh_config that makes `ssh NAME.vm` work from any terminal, with the pinned key. */
export function renderSshConfig(
  entries: readonly SshEntry[],
  identityFile: string,
  knownHosts: string,
): string {
  const lines = [
    "# Written by banger; regenerated whenever a VM is created, started or deleted. Do not edit.",
    `# Use it from ~/.ssh/config with:  Include ${path.join(path.dirname(knownHosts), "ssh_config")}`,
    "",
  ];
  for (const e of entries)
    lines.push(`Host ${e.name}.vm`, `  HostName ${e.ip}`, `  HostKeyAlias ${e.name}.vm`, "");
  lines.push(
    "Host *.vm",
    "  User root",
    `  IdentityFile ${identityFile}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${knownHosts}`,
    "  StrictHostKeyChecking yes",
    "  LogLevel ERROR",
    "",
  );
  return lines.join("\n");
}

/** The managed known_hosts and ssh_config under StateDir/ssh, written atomically. */
export class SshFiles {
  readonly knownHosts: string;
  readonly sshConfig: string;

  constructor(readonly sshDir: string) {
    this.knownHosts = path.join(sshDir, "known_hosts");
    this.sshConfig = path.join(sshDir, "ssh_config");
  }

  private chain: Promise<void> = Promise.resolve();

  /** Writes are serialised: concurrent creates each leave a complete pair of files. */
  write(entries: readonly SshEntry[], identityFile: string): Promise<void> {
    const run = async () => {
      await mkdir(this.sshDir, { recursive: true, mode: 0o700 });
      const sorted = [...entries].sort((a, b) => a.name.localeCompare(b.name));
      await atomicWrite(this.knownHosts, renderKnownHosts(sorted));
      await atomicWrite(this.sshConfig, renderSshConfig(sorted, identityFile, this.knownHosts));
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}
