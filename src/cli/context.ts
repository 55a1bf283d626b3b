import { type Paths, resolvePaths } from "../config/paths.js";
import type { RpcClient } from "../rpc/client.js";
import { parseHost, type SshTarget } from "../rpc/sshTransport.js";
import { type Connected, connectDaemon } from "./daemonControl.js";
import { type Out, processOut } from "./render/output.js";

/** What every command gets: paths, output, and a lazily connected daemon client. */
export class CliContext {
  private conn: Promise<Connected> | undefined;
  readonly paths: Paths;

  constructor(
    readonly env: NodeJS.ProcessEnv = process.env,
    readonly out: Out = processOut(),
  ) {
    this.paths = resolvePaths(env);
  }

  /** Connect to the daemon: BANGER_HOST's through ssh, else the local one (started or replaced as needed). */
  daemon(): Promise<Connected> {
    const note = (line: string) => this.out.err(`note: ${line}\n`);
    this.conn ??= connectDaemon(this.paths, this.env, note).then((c) => {
      if (c.notice) this.out.err(`${c.notice}\n`);
      return c;
    });
    return this.conn;
  }

  /** The remote host the CLI works on (BANGER_HOST or --host), or undefined for this machine. */
  remote(): SshTarget | undefined {
    return this.env.BANGER_HOST ? parseHost(this.env.BANGER_HOST) : undefined;
  }

  async client(): Promise<RpcClient> {
    return (await this.daemon()).client;
  }

  close(): void {
    void this.conn?.then((c) => c.client.close()).catch(() => undefined);
  }
}
