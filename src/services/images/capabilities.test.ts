import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import { detectCapabilities, presentPaths } from "./capabilities.js";

/** What debugfs 1.47 prints for `stat` of a present and of a missing file (stdout; the miss goes to stderr). */
const STAT = (p: string, type: string) =>
  `debugfs: stat ${p}\nInode: 12   Type: ${type}    Mode:  0755   Flags: 0x80000\nUser:     0   Group:     0   Size: 840776\n`;

describe("image capabilities from the rootfs", () => {
  it("finds the paths debugfs could stat, of any type", () => {
    const out = `${STAT("/usr/sbin/banger-agent", "regular")}debugfs: stat /usr/sbin/sshd\n${STAT("/usr/sbin/dropbear", "symlink")}`;
    assert.deepEqual([...presentPaths(out)].sort(), ["/usr/sbin/banger-agent", "/usr/sbin/dropbear"]);
  });

  it("asks debugfs about the agent and every sshd path, read-only", async () => {
    let input = "";
    const r = new FakeCommandRunner().on(["debugfs"], (_argv, opts) => {
      input = String(opts.input);
      return { stdout: STAT("/usr/sbin/sshd", "regular") };
    });
    assert.deepEqual(await detectCapabilities(r, "/img/rootfs.ext4"), { agent: false, sshd: true });
    assert.deepEqual(r.calls[0], ["debugfs", "-f", "-", "/img/rootfs.ext4"]);
    assert.match(input, /^stat \/usr\/sbin\/banger-agent\nstat \/usr\/sbin\/sshd\n/);
  });

  it("an image with neither", async () => {
    const r = new FakeCommandRunner().on(["debugfs"], { stdout: "debugfs: stat /usr/sbin/banger-agent\n" });
    assert.deepEqual(await detectCapabilities(r, "/x"), { agent: false, sshd: false });
  });

  it("a debugfs failure names the rootfs and the fix", async () => {
    const r = new FakeCommandRunner().on(["debugfs"], new Error("spawn debugfs ENOENT"));
    await assert.rejects(
      detectCapabilities(r, "/x/rootfs.ext4"),
      /cannot inspect \/x\/rootfs\.ext4 with debugfs/,
    );
  });
});
