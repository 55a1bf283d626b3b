import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isBangerError } from "../errors/index.js";
import { PACKAGE_RE, parseCopySpec, planBuild } from "./buildParams.js";

let dir: string;
let rootfs: string;
let seed: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "banger-params-"));
  rootfs = path.join(dir, "rootfs.ext4");
  seed = path.join(dir, "seed.ext4");
  writeFileSync(rootfs, "");
  writeFileSync(seed, "");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("image build parameters", () => {
  it("--copy SRC:DEST: absolute both sides, DEST normalized", () => {
    assert.deepEqual(parseCopySpec("/home/me/app.conf:/etc/app/"), {
      src: "/home/me/app.conf",
      dest: "/etc/app",
    });
    assert.deepEqual(parseCopySpec("/a:/b//c/./d"), { src: "/a", dest: "/b/c/d" });
    for (const bad of ["rel:/x", "/a", "/a:rel", "/a:/", "/a:/x/../y", ":/x"]) {
      assert.throws(
        () => parseCopySpec(bad),
        (e: unknown) => isBangerError(e) && e.code === "INVALID_ARGUMENT",
        bad,
      );
    }
  });

  it("--install takes package names, never options", () => {
    for (const ok of [
      "git",
      "build-essential",
      "libc6:amd64",
      "python3=3.11.2-1",
      "curl/bookworm-backports",
      "g++",
    ])
      assert.ok(PACKAGE_RE.test(ok), ok);
    for (const bad of ["-o", "--allow-unauthenticated", "a b", "", "Git;rm"])
      assert.ok(!PACKAGE_RE.test(bad), bad);
  });

  it("checks every input before any work", async () => {
    const script = path.join(dir, "s.sh");
    writeFileSync(script, "true\n");
    const from = { rootfsPath: rootfs, workSeedPath: seed };
    const plan = await planBuild(
      { name: "n", from: "f", install: ["git"], script, copy: [`${script}:/opt/s.sh`] },
      from,
    );
    assert.deepEqual(plan, { copies: [{ src: script, dest: "/opt/s.sh" }], packages: ["git"], script });
    await assert.rejects(
      planBuild({ name: "n", from: "f", copy: [`${dir}/missing:/x`] }, from),
      /--copy: cannot read/,
    );
    await assert.rejects(
      planBuild({ name: "n", from: "f", script: "s.sh" }, from),
      /--script: "s.sh" is not an absolute/,
    );
    await assert.rejects(planBuild({ name: "n", from: "f", install: ["-y"] }, from), /--install: "-y"/);
    await assert.rejects(
      planBuild({ name: "n", from: "f" }, { ...from, rootfsPath: `${dir}/nope` }),
      /from: rootfs/,
    );
  });
});
