import { type Paths, resolvePaths } from "../config/paths.js";
import type { RpcClient } from "../rpc/client.js";
import { type Connected, ensureDaemon } from "./daemonControl.js";
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

  /** Connect to the daemon, starting or replacing it as needed. */
  daemon(): Promise<Connected> {
    const note = (line: string) =>
      this.out.err(`note: ${line}
`);
    this.conn ??= ensureDaemon(this.paths, this.env, note).then((c) => {
      if (c.notice)
        this.out.err(`${c.notice}
`);
      return c;
    });
    return this.conn;
  }

  async client(): Promise<RpcClient> {
    return (await this.daemon()).client;
  }

  close(): void {
    void this.conn?.then((c) => c.client.close()).catch(() => undefined);
  }
}
