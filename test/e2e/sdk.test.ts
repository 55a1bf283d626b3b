/**
 * The TypeScript SDK end to end (issue 13 part 2): a real guest under QEMU
 * (the small test guest), the daemon inside a network namespace this test
 * creates and deletes, the SDK in this process talking to its socket.
 * exec (exit code, stdout, stderr, stdin/env/cwd), a stream whose first chunk
 * arrives before the command ends, cancellation, files, list, events, delete.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { Banger, type ExecEvent, isBangerError, type Vm, type VmEvent } from "../../src/sdk/index.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, type NsSandbox, tinyGuestSandbox, until } from "../helpers/nsSandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
let t: NsSandbox;
let guest: TestGuest;
let b: Banger;
let vm: Vm;
const seen: VmEvent[] = [];
const events = new AbortController();

const code = (c: string) => (e: unknown) => isBangerError(e) && e.code === c;

describe("the SDK against a real guest", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await tinyGuestSandbox("bgsdk", guest);
    // The daemon runs in the namespace (started by the CLI above); the SDK reaches it through its socket.
    b = await Banger.connect({ socket: t.sb.socket });
    void (async () => {
      for await (const e of b.events({ signal: events.signal })) seen.push(e);
    })().catch(() => undefined);
  });

  after(async () => {
    events.abort();
    b?.close();
    await t?.cleanup();
  });

  test("connect: the handshake carries the API version and the methods", () => {
    assert.equal(b.daemon.apiVersion, 1);
    assert.ok(b.daemon.methods.includes("vm.exec"));
  });

  test("bad input is refused before anything happens, naming the field", async () => {
    await assert.rejects(b.vms.create({ name: "bad", vcpu: 0 }), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.equal(e.code, "INVALID_ARGUMENT");
      assert.match(e.message, /vcpu: must be an integer from 1 to 64/);
      return true;
    });
    assert.deepEqual(
      (await b.vms.list()).map((v) => v.name),
      [],
    );
  });

  test("create, ready, exec: exit code, stdout and stderr", async () => {
    vm = await b.vms.create({ name: "sdk1" });
    const h = await vm.ready({ timeoutMs: 300_000 });
    assert.equal(h.status, "healthy");
    const r = await vm.exec(["sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    assert.deepEqual(r, { exitCode: 3, stdout: "hi\n", stderr: "oops\n" });
    const io = await vm.exec("cat; echo $FOO; pwd", {
      stdin: "from-stdin\n",
      env: { FOO: "bar" },
      cwd: "/tmp",
    });
    assert.deepEqual(io, { exitCode: 0, stdout: "from-stdin\nbar\n/tmp\n", stderr: "" });
  });

  test("execStream: the first chunk arrives before the command ends", async () => {
    const t0 = Date.now();
    const got: Array<{ ev: ExecEvent; ms: number }> = [];
    for await (const ev of vm.execStream(["sh", "-c", "echo first; sleep 3; echo second >&2; exit 7"])) {
      got.push({ ev, ms: Date.now() - t0 });
    }
    const first = got[0]!;
    assert.ok("stdout" in first.ev, JSON.stringify(got));
    assert.equal(first.ev.stdout.toString(), "first\n");
    const last = got.at(-1)!;
    assert.deepEqual(last.ev, { exitCode: 7 });
    assert.ok(last.ms - first.ms >= 2500, `first chunk at ${first.ms} ms, end at ${last.ms} ms`);
    const err = got.find((g) => "stderr" in g.ev);
    assert.equal(err && "stderr" in err.ev ? err.ev.stderr.toString() : null, "second\n");
  });

  test("aborting a stream or a timeout ends the guest command", async () => {
    const tag = `sleep ${3000 + Math.floor(Math.random() * 900)}`;
    const ac = new AbortController();
    const it = vm.execStream(["sh", "-c", `echo go; exec ${tag}`], { signal: ac.signal });
    const firstEv = await it.next();
    assert.equal("stdout" in firstEv.value ? firstEv.value.stdout.toString() : "", "go\n");
    const t0 = Date.now();
    ac.abort();
    await assert.rejects(it.next(), code("CANCELLED"));
    assert.ok(Date.now() - t0 < 5000);
    await until(
      "the aborted command to be gone",
      async () => {
        const ps = await vm.exec(["ps", "-o", "args"]);
        return ps.stdout.includes(tag) ? undefined : true;
      },
      20_000,
    );
    const t1 = Date.now();
    await assert.rejects(vm.exec(["sleep", "60"], { timeoutMs: 1000 }), code("TIMEOUT"));
    assert.ok(Date.now() - t1 < 10_000, `timeoutMs took ${Date.now() - t1} ms`);
  });

  test("files: write and read back text and binary data; a missing file is NOT_FOUND", async () => {
    await vm.files.write("/root/notes/a.txt", "data ünïcode\n");
    assert.equal(await vm.files.read("/root/notes/a.txt"), "data ünïcode\n");
    const bin = randomBytes(200_000);
    await vm.files.write("/root/bin.dat", bin);
    const back = await vm.files.read("/root/bin.dat", { encoding: "buffer" });
    assert.ok(back.equals(bin), `read ${back.length} bytes`);
    assert.equal((await vm.exec(["wc", "-c", "/root/bin.dat"])).stdout.trim().split(/\s+/)[0], "200000");
    await assert.rejects(vm.files.read("/root/nope"), code("NOT_FOUND"));
  });

  test("list and get", async () => {
    const list = await b.vms.list();
    assert.deepEqual(
      list.map((v) => [v.name, v.info.state]),
      [["sdk1", "running"]],
    );
    assert.equal((await b.vms.get("sdk1")).info.image.name, "tiny");
    await assert.rejects(b.vms.get("nope"), code("NOT_FOUND"));
  });

  test("delete: the VM is gone, and the event stream saw its life", async () => {
    await vm.delete({ force: true });
    assert.deepEqual(await b.vms.list(), []);
    await assert.rejects(b.vms.get("sdk1"), code("NOT_FOUND"));
    const states = await until(
      "the deleted event",
      async () => {
        const s = seen.filter((e) => e.name === "sdk1").map((e) => e.state);
        return s.includes("deleted") ? s : undefined;
      },
      10_000,
    );
    assert.ok(states.includes("running"), states.join(","));
    assert.equal(states.at(-1), "deleted");
    for (let i = 1; i < states.length; i++) assert.notEqual(states[i], states[i - 1], "only changes");
  });
});
