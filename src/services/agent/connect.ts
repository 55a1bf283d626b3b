/**
 * Opening the host side of a VM's agent channel: a Unix socket (QEMU's
 * virtio-serial chardev, or Firecracker's vsock uds_path followed by the
 * `CONNECT <port>` handshake).
 */
import net from "node:net";
import { BangerError, ErrorCodes } from "../../errors/index.js";
import type { DriverName } from "../../model/vmm.js";
import { AGENT_VSOCK_PORT, isVsockOk, vsockConnectLine } from "./protocol.js";

/** What a client needs of a VM's VmmHandle. */
export interface AgentHandle {
  driver: DriverName;
  /** QEMU: the virtio-serial chardev socket; Firecracker: the vsock uds_path. */
  agentSocket: string;
}

export const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

function connectError(e: NodeJS.ErrnoException, socketPath: string): BangerError {
  if (e.code === "ENOENT" || e.code === "ECONNREFUSED") {
    const what = e.code === "ENOENT" ? "does not exist" : "refuses connections";
    return new BangerError(
      ErrorCodes.CONFLICT,
      `the VM's agent socket ${socketPath} ${what}: the VM is not running`,
      {
        cause: e,
        hint: "start the VM first (banger vm start NAME)",
      },
    );
  }
  return new BangerError(ErrorCodes.VMM, `cannot connect to the guest agent at ${socketPath}: ${e.message}`, {
    cause: e,
  });
}

/** Connect to a Unix socket, within timeoutMs. */
export function openUnixSocket(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new BangerError(
          ErrorCodes.TIMEOUT,
          `could not connect to the guest agent at ${socketPath} within ${seconds(timeoutMs)}`,
        ),
      );
    }, timeoutMs);
    socket.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(connectError(e, socketPath));
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
  });
}

/**
 * Firecracker's hybrid vsock: write `CONNECT PORT\n`, expect `OK ...\n`.
 * Resolves with any bytes that followed the OK line (already agent data).
 */
export function vsockHandshake(
  socket: net.Socket,
  timeoutMs: number,
  port: number = AGENT_VSOCK_PORT,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const done = (err: BangerError | null, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off("data", onData).off("close", onClose).off("error", onClose);
      socket.pause(); // the client resumes once its own listeners are on
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(rest ?? Buffer.alloc(0));
    };
    const notListening = () =>
      new BangerError(ErrorCodes.VMM, `the guest agent is not listening on vsock port ${port}`, {
        hint: "the guest may still be booting, or its image has no banger-agent",
      });
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const nl = got.indexOf(10);
      if (nl === -1) {
        if (got.length > 1024) done(notListening());
        return;
      }
      const line = got.subarray(0, nl).toString("utf8").trim();
      if (isVsockOk(line)) done(null, got.subarray(nl + 1));
      else done(notListening());
    };
    const onClose = () => done(notListening());
    const timer = setTimeout(
      () =>
        done(
          new BangerError(
            ErrorCodes.TIMEOUT,
            `the VM's vsock did not answer CONNECT ${port} within ${seconds(timeoutMs)}`,
          ),
        ),
      timeoutMs,
    );
    socket.on("data", onData).on("close", onClose).on("error", onClose);
    socket.write(vsockConnectLine(port));
  });
}
