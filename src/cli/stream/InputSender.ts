import type { CallInput } from "../../api/files.js";
import type { RpcClient } from "../../rpc/client.js";

/**
 * Sends `call.input` for one call, keeping at most `window` inputs
 * unanswered: the daemon answers an input once it consumed it, so a slow
 * guest slows the sender instead of growing anyone's memory.
 */
export class InputSender {
  private readonly inFlight = new Set<Promise<unknown>>();
  private failed: Error | null = null;

  constructor(
    private readonly client: RpcClient,
    private readonly call: number,
    private readonly window = 4,
  ) {}

  /** Resolves once the input is sent and the window has room again; rejects after an input failed. */
  async send(input: Omit<CallInput, "call">): Promise<void> {
    if (this.failed) throw this.failed;
    const p = this.client.call("call.input", { ...input, call: this.call }).catch((e: Error) => {
      this.failed ??= e;
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    while (this.inFlight.size >= this.window) await Promise.race(this.inFlight);
    if (this.failed) throw this.failed;
  }

  /** Fire and forget (signals, resizes): failures are ignored (the call may have ended). */
  post(input: Omit<CallInput, "call">): void {
    void this.client.call("call.input", { ...input, call: this.call }).catch(() => undefined);
  }

  /** Wait for every input sent so far. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failed) throw this.failed;
  }
}
