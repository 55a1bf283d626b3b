import net from "node:net";

/**
 * Connect to host:port and read the SSH identification line ("SSH-2.0-...",
 * RFC 4253 §4.2). Resolves with that line; rejects when nothing answers, the
 * peer is not SSH, or no line arrives within `timeoutMs`.
 */
export function readSshBanner(host: string, timeoutMs: number, port = 22): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port });
    let buf = "";
    const done = (e: Error | null, line?: string) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(line!);
    };
    const timer = setTimeout(
      () => done(new Error(`no SSH banner from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.on("error", (e) => done(new Error(`${host}:${port}: ${e.message}`)));
    sock.on("data", (b: Buffer) => {
      buf += b.toString("latin1");
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl === -1) break;
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line.startsWith("SSH-")) return done(null, line);
        // RFC 4253 allows other lines before the identification line
      }
      if (buf.length > 8192) done(new Error(`${host}:${port} is not an SSH server`));
    });
    sock.on("end", () => done(new Error(`${host}:${port} closed the connection without an SSH banner`)));
  });
}
