/**
 * The options and controls of AgentClient's calls, and how an agent's
 * refusal becomes a BangerError (an old agent's "unknown request": an upgrade hint).
 */
import { BangerError, ErrorCodes } from "../../errors/index.js";

export interface AgentClientOptions {
  /** Connecting, including Firecracker's CONNECT handshake. Default 5 000 ms. */
  timeoutMs?: number;
  /** How long ping, health and ports wait for the answer. Default 10 000 ms. */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

export type ExecInput = string | Uint8Array | AsyncIterable<string | Uint8Array>;

export interface ExecOptions {
  /** Working directory in the guest (default /root). */
  cwd?: string;
  /** Added to the agent's default environment (PATH, HOME=/root, TERM...). */
  env?: Record<string, string>;
  /** Written to the command's stdin, which is then closed; without it stdin is closed at once. */
  stdin?: ExecInput;
  onStdout?: (data: Buffer) => void;
  onStderr?: (data: Buffer) => void;
  /** On abort the command's process group gets SIGTERM, then SIGKILL after killGraceMs. */
  signal?: AbortSignal;
  /** Default 2 000 ms. */
  killGraceMs?: number;
  /** Run on a pty of this size (agent version 2 and later). */
  pty?: { rows: number; cols: number };
  /** Called once the request is sent, with controls for the running command. */
  onStart?: (control: ExecControl) => void;
}

export interface ExecControl {
  /** Send a signal to the command's process group. */
  kill(signal: number): void;
  /** Change the pty's size (a no-op without a pty). */
  resize(rows: number, cols: number): void;
}

/** A raw request id on this connection, for protocols built on top of it (transfers.ts). */
export interface AgentSession {
  readonly id: number;
  write(line: string): void;
  /** Write, then wait until the socket drained. */
  writeAsync(line: string): Promise<void>;
  /** Stop routing replies for this id. */
  end(): void;
}

/** What to do when the guest agent is older than a call needs. */
export const AGENT_UPGRADE_HINT = (version: number) =>
  `this needs guest agent version ${version}: rebuild the image (\`banger image pull\` or \`image build\`) and recreate the VM`;

/** An error reply as a BangerError; an old agent's "unknown request" becomes an upgrade hint. */
export function agentRefusal(message: string, what: string): BangerError {
  if (message.startsWith("unknown or malformed request")) {
    return new BangerError(ErrorCodes.CONFLICT, `${what}: the guest agent is too old (${message})`, {
      hint: AGENT_UPGRADE_HINT(2),
    });
  }
  return new BangerError(ErrorCodes.COMMAND_FAILED, `${what}: ${message}`);
}
