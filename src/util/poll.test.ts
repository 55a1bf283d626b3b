import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BangerError, ErrorCodes } from "../errors/index.js";
import { poll, waitFor } from "./poll.js";

describe("poll", () => {
  it("returns the first answer that is not undefined or false, checking until then", async () => {
    let calls = 0;
    const r = await poll(
      () => {
        calls++;
        if (calls === 1) return undefined;
        if (calls === 2) return false;
        return calls === 3 ? 0 : "later";
      },
      { timeoutMs: 60_000, intervalMs: 1 },
    );
    assert.equal(r, 0);
    assert.equal(calls, 3);
  });

  it("awaits an async check", async () => {
    let calls = 0;
    const r = await poll(async () => (++calls === 2 ? { ok: true } : undefined), {
      timeoutMs: 60_000,
      intervalMs: 1,
    });
    assert.deepEqual(r, { ok: true });
    assert.equal(calls, 2);
  });

  it("gives undefined at the timeout, after checking once more at the deadline", async () => {
    let calls = 0;
    const r = await poll(
      () => {
        calls++;
        return false;
      },
      { timeoutMs: 30, intervalMs: 1000 },
    );
    assert.equal(r, undefined);
    assert.equal(
      calls,
      2,
      "a check at the start and one at the deadline (the interval is longer than the timeout)",
    );
  });

  it("checks once even with no time at all", async () => {
    let calls = 0;
    assert.equal(await poll(() => ++calls === 1, { timeoutMs: 0, intervalMs: 10 }), true);
    assert.equal(calls, 1);
  });

  it("lets a throwing check end the wait with its error", async () => {
    await assert.rejects(
      poll(
        () => {
          throw new Error("gone wrong");
        },
        { timeoutMs: 60_000, intervalMs: 1 },
      ),
      /gone wrong/,
    );
  });
});

describe("waitFor", () => {
  it("returns what the check answers", async () => {
    let calls = 0;
    assert.equal(
      await waitFor(() => (++calls < 3 ? undefined : "up"), { timeoutMs: 60_000, intervalMs: 1, what: "x" }),
      "up",
    );
  });

  it("throws a TIMEOUT error naming what it waited for", async () => {
    await assert.rejects(
      waitFor(() => false, { timeoutMs: 20, intervalMs: 5, what: "the socket to appear" }),
      (e: unknown) =>
        e instanceof BangerError &&
        e.code === ErrorCodes.TIMEOUT &&
        /^timed out after 20 ms waiting for the socket to appear$/.test(e.message),
    );
    await assert.rejects(
      waitFor(() => undefined, { timeoutMs: 1000, intervalMs: 400, what: "it" }),
      { message: "timed out after 1 s waiting for it" },
    );
  });

  it("throws the caller's error at the timeout when it has one", async () => {
    const mine = new BangerError(ErrorCodes.DAEMON_UNAVAILABLE, "bangerd did not stop");
    await assert.rejects(
      waitFor(() => false, { timeoutMs: 10, intervalMs: 5, what: "bangerd to stop", onTimeout: () => mine }),
      (e: unknown) => e === mine,
    );
  });
});
