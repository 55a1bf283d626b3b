import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CallInput } from "../../api/files.js";
import type { HandlerContext, InputListener } from "../../rpc/server.js";
import type { VmService } from "../../services/vms/VmService.js";
import { waking } from "./handlers.js";

function fakeCtx() {
  const seen: { listener: InputListener | null } = { listener: null };
  const ctx = {
    emit: () => {},
    signal: new AbortController().signal,
    onInput: (l: InputListener) => {
      seen.listener = l;
    },
  } as HandlerContext;
  return { ctx, seen };
}

function fakeVms(asleep: boolean, wake: Promise<void>) {
  let woke = 0;
  const vms = {
    scaleToZero: {
      asleep: () => asleep,
      track: <T>(_n: string, fn: () => Promise<T>) => fn(),
      wake: async () => {
        woke++;
        await wake;
        return true;
      },
    },
  } as unknown as Pick<VmService, "scaleToZero">;
  return { vms, woke: () => woke };
}

const input = (n: number) => ({ call: 1, eof: n === 0 }) as unknown as CallInput;

describe("waking handlers", () => {
  it("an awake VM's handler registers for inputs at once (inputs may follow the call in the same read)", () => {
    const { ctx, seen } = fakeCtx();
    const { vms, woke } = fakeVms(false, Promise.resolve());
    const got: CallInput[] = [];
    void waking(vms, (_p, c) => {
      c.onInput((i) => void got.push(i));
      return new Promise(() => {});
    })({ name: "a" }, ctx);
    assert.ok(seen.listener, "registered synchronously, before any await");
    void seen.listener(input(1));
    assert.equal(got.length, 1);
    assert.equal(woke(), 0);
  });

  it("an asleep VM is woken first; inputs that came meanwhile are held and delivered in order", async () => {
    const { ctx, seen } = fakeCtx();
    let release: () => void = () => {};
    const { vms, woke } = fakeVms(true, new Promise<void>((r) => (release = r)));
    const got: number[] = [];
    let registered = false;
    const done = waking(vms, async (_p, c) => {
      c.onInput((i) => void got.push((i as unknown as { eof: boolean }).eof ? 0 : 1));
      registered = true;
      return "ok";
    })({ name: "a" }, ctx);
    assert.ok(seen.listener, "the call takes input at once, for the handler");
    void seen.listener(input(1));
    void seen.listener(input(0));
    assert.equal(registered, false, "the handler waits for the wake");
    release();
    assert.equal(await done, "ok");
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(got, [1, 0]);
    assert.equal(woke(), 1);
  });
});
