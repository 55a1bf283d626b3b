import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { trackedSandboxes } from "../helpers/sandbox.js";

const sandbox = trackedSandboxes();

interface JsonError {
  error: { code: string; message: string; hint: string };
}

describe("CLI edges", () => {
  test("with --json a usage error is one JSON object on stderr, exit 2, nothing on stdout, no daemon", async () => {
    const s = sandbox();
    for (const [args, message, hint] of [
      [["frobnicate", "--json"], /unknown command 'frobnicate'/, /banger --help/],
      [
        ["vm", "start", "x", "--wait", "abc", "--json"],
        /--wait <seconds>.*'abc' is invalid.*integer from 0 to 3600/,
        /banger vm start --help/,
      ],
      [
        ["vm", "stop", "x", "--timeout", "1.5", "--json"],
        /--timeout <seconds>.*'1\.5' is invalid/,
        /banger vm stop --help/,
      ],
      [["vm", "create", "--vcpu", "0", "--json"], /--vcpu <n>.*'0' is invalid/, /banger vm create --help/],
      [["vm", "show", "--json"], /missing required argument 'name'/, /banger vm show --help/],
    ] as const) {
      const r = await s.cli([...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "", "stdout stays empty");
      const e = JSON.parse(r.stderr) as JsonError;
      assert.equal(e.error.code, "USAGE");
      assert.match(e.error.message, message);
      assert.match(e.error.hint, hint);
    }
    assert.equal(s.daemonPid(), null, "no daemon was started");
  });

  test("without --json usage errors stay text", async () => {
    const s = sandbox();
    const r = await s.cli(["vm", "run", "--wait", "abc"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: option '--wait <seconds>' argument 'abc' is invalid/);
    assert.throws(() => JSON.parse(r.stderr));
    const e = await s.cli(["vm", "exec", "x", "--timeout", "soon", "--", "true"]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /--timeout <seconds>' argument 'soon' is invalid/);
  });
});
