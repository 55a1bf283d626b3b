/** Coalesced refreshes: a reload asked for while one runs happens once, after it. */

/** Runs `fn` now, or once more after the current run when asked again meanwhile. */
export class Coalesced {
  private running = false;
  private again = false;
  constructor(private readonly fn: () => Promise<void>) {}
  trigger(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.fn()
      .catch(() => undefined)
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
  }
}
