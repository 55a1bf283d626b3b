/**
 * Input a client streams into a call (exec stdin), handed to a consumer one
 * chunk at a time: `push` settles when the consumer took the chunk, so a
 * client that waits for its inputs' answers never makes the daemon buffer
 * more than one chunk per call.
 */
export class InputQueue implements AsyncIterable<Buffer> {
  private readonly items: Array<{ data: Buffer; taken: () => void }> = [];
  private waiter: ((r: IteratorResult<Buffer>) => void) | null = null;
  private ended = false;

  push(data: Buffer): Promise<void> {
    if (this.ended) return Promise.resolve(); // the command's input is closed: drop
    return new Promise<void>((taken) => {
      const w = this.waiter;
      if (w) {
        this.waiter = null;
        w({ value: data, done: false });
        taken();
      } else this.items.push({ data, taken });
    });
  }

  /** No more input; chunks not yet taken are dropped (their pushes settle). */
  end(): void {
    this.ended = true;
    this.waiter?.({ value: undefined, done: true });
    this.waiter = null;
  }

  /** Drop everything: the consumer is gone. */
  close(): void {
    this.end();
    for (const i of this.items.splice(0)) i.taken();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => {
        const i = this.items.shift();
        if (i) {
          i.taken();
          return Promise.resolve({ value: i.data, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
    };
  }
}
