import { createHash } from "node:crypto";
import net from "node:net";
import { BangerError, ErrorCodes } from "../errors/index.js";

/**
 * One daemon per state directory. The lock is an abstract Unix socket named
 * after the state directory: binding it is atomic, and the kernel releases it
 * the moment the process dies (even on kill -9), so a lock is never stale.
 * (Abstract sockets belong to a network namespace; the filesystem socket
 * check in the daemon covers daemons started in another namespace.)
 */
export class InstanceLock {
  private constructor(private readonly server: net.Server) {}

  static lockName(stateDir: string): string {
    const h = createHash("sha256").update(stateDir).digest("hex").slice(0, 24);
    return `\0banger-bangerd-${h}`;
  }

  static acquire(stateDir: string): Promise<InstanceLock> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => s.destroy());
      server.once("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EADDRINUSE") {
          reject(
            new BangerError(ErrorCodes.DAEMON_RUNNING, `another bangerd already runs for ${stateDir}`, {
              hint: "use `banger daemon status` to see it, or `banger daemon stop` to stop it",
            }),
          );
        } else reject(e);
      });
      server.listen(InstanceLock.lockName(stateDir), () => {
        server.unref();
        resolve(new InstanceLock(server));
      });
    });
  }

  release(): void {
    this.server.close();
  }
}
