import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputQueue } from "./inputQueue.js";

describe("InputQueue", () => {
  it("a push settles only when the consumer takes it; order kept; end finishes the iteration", async () => {
    const q = new InputQueue();
    let firstTaken = false;
    const p1 = q.push(Buffer.from("a")).then(() => (firstTaken = true));
    const p2 = q.push(Buffer.from("b"));
    await new Promise((r) => setImmediate(r));
    assert.equal(firstTaken, false, "nobody consumed yet");
    const it = q[Symbol.asyncIterator]();
    assert.equal(String((await it.next()).value), "a");
    await p1;
    assert.equal(String((await it.next()).value), "b");
    await p2;
    q.end();
    assert.equal((await it.next()).done, true);
    await q.push(Buffer.from("late")); // dropped, settles at once
  });

  it("close settles pushes nobody will take", async () => {
    const q = new InputQueue();
    const p = q.push(Buffer.from("x"));
    q.close();
    await p;
  });
});
