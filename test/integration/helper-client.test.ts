import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { HelperClient } from "../../src/host/helper/HelperClient.js";
import { repoRoot } from "../helpers/repoRoot.js";

const helperMain = path.join(repoRoot(), "dist/src/helper/main.js");

describe("HelperClient with the real helper process", () => {
  it("starts the helper once, answers calls, maps refusals to errors", async () => {
    const client = new HelperClient({ command: [process.execPath, helperMain] });
    try {
      const hello = await client.call("hello", {});
      assert.equal(hello.version, 1);
      assert.equal(hello.uid, process.getuid?.());
      await assert.rejects(client.call("nope" as "hello", {}), (e: Error) =>
        /unknown verb "nope"/.test(e.message),
      );
      const again = await client.call("hello", {});
      assert.equal(again.uid, hello.uid);
    } finally {
      client.close();
    }
  });

  it("fails calls with a hint when the helper cannot start", async () => {
    const client = new HelperClient({
      command: ["/nonexistent/banger-helper"],
      startHint: "run banger sudoers",
    });
    await assert.rejects(client.call("hello", {}), (e: Error & { hint?: string }) => {
      assert.match(e.message, /could not start/);
      assert.equal(e.hint, "run banger sudoers");
      return true;
    });
    client.close();
  });
});
