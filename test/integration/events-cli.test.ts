/**
 * `banger events --json` (issue 13 part 7): a script reading the stream sees
 * a VM's state changes as JSON lines, in order, and the command ends cleanly
 * on SIGINT. No guest boots (`vm create --no-start`); the daemon runs in a
 * network namespace this test creates and deletes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";

const runner = new NodeCommandRunner();
const skip = process.getuid?.() !== 0 ? "needs root (network namespaces)" : false;
let t: NsSandbox;
let guest: TestGuest;

describe("banger events", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgev");
    t.sb.writeConfig('vmm = "qemu"\ndefault_image_name = "tiny"\n');
    await t.ok(registerArgs("tiny", guest));
  });

  after(async () => {
    await t?.cleanup();
  });

  test("--json prints one object per state change; SIGINT ends it with exit 0", async () => {
    const bin = path.join(repoRoot(), "bin", "banger");
    const child = spawn("ip", ["netns", "exec", t.ns, process.execPath, bin, "events", "--json"], {
      env: t.sb.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (err += b));
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    try {
      // The stream is subscribed once the daemon has a watcher; give it a moment, then act.
      await new Promise((r) => setTimeout(r, 1500));
      await t.ok(["vm", "create", "--no-start", "--name", "ev1"]);
      await t.ok(["vm", "delete", "ev1"]);
      const lines = await until(
        "the deleted line",
        async () => {
          const ls = out.split("\n").filter(Boolean);
          return ls.some((l) => l.includes('"deleted"')) ? ls : undefined;
        },
        20_000,
      );
      const events = lines.map(
        (l) => JSON.parse(l) as { at: string; name: string; state: string; previous: string | null },
      );
      assert.ok(
        events.every((e) => e.name === "ev1" && !Number.isNaN(Date.parse(e.at))),
        out,
      );
      assert.deepEqual(
        events.map((e) => e.state),
        ["creating", "stopped", "deleted"],
        out,
      );
      assert.equal(events[0]?.previous, null);
      assert.equal(events[2]?.previous, "stopped");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0, err);
  });
});
