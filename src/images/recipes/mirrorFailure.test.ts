import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ProgressEvent } from "../../api/protocol.js";
import { BangerError, ErrorCodes, isBangerError } from "../../errors/index.js";
import { FakeCommandRunner } from "../../host/fake/FakeCommandRunner.js";
import type { BuildUser } from "../userns.js";
import { mirrorError, mirrorFailure } from "./mirrorFailure.js";
import { LocalRecipeRunner } from "./RecipeRunner.js";
import { PIPE_SCRIPT } from "./rootlessTree.js";
import {
  APT_DOWNLOAD_DNS_FAILURE,
  APT_DOWNLOAD_STALE_LISTS,
  MMDEBSTRAP_CONNECT_FAILURE,
  MMDEBSTRAP_DNS_FAILURE,
} from "./testAptOutputs.js";

const failed = (stderr: string) =>
  new BangerError(ErrorCodes.COMMAND_FAILED, "bash -c ... exited with code 1", {
    details: { argv: [], code: 1, stdout: "", stderr },
  });

describe("mirror failures in apt's output", () => {
  it("finds the host that does not resolve, or does not answer", () => {
    assert.deepEqual(mirrorFailure(MMDEBSTRAP_DNS_FAILURE), { kind: "dns", host: "deb.debian.org" });
    assert.deepEqual(mirrorFailure(APT_DOWNLOAD_DNS_FAILURE), { kind: "dns", host: "deb.debian.org" });
    assert.deepEqual(mirrorFailure(MMDEBSTRAP_CONNECT_FAILURE), {
      kind: "connect",
      host: "mirror.example.net",
    });
    assert.deepEqual(mirrorFailure("Err:1 http://x  Could not resolve 'ftp.de.debian.org'"), {
      kind: "dns",
      host: "ftp.de.debian.org",
    });
  });

  it("sees none in other failures", () => {
    assert.equal(mirrorFailure(APT_DOWNLOAD_STALE_LISTS), null);
    assert.equal(mirrorFailure("E: Unable to locate package nosuchpackage"), null);
  });

  it("debian-bookworm: names the mirror and DEBIAN_MIRRORS; never says to run apt-get update", () => {
    const e = mirrorError("debian-bookworm", failed(MMDEBSTRAP_DNS_FAILURE));
    assert.ok(e);
    assert.equal(
      e.message,
      'recipe "debian-bookworm" failed: the package mirror deb.debian.org cannot be resolved (DNS lookup failed)',
    );
    assert.match(e.hint ?? "", /getent hosts deb\.debian\.org/);
    assert.match(
      e.hint ?? "",
      /no mirror setting.*DEBIAN_MIRRORS in src\/images\/recipes\/debianBookworm\.ts/,
    );
    assert.doesNotMatch(`${e.message} ${e.hint}`, /apt-get update/);
    assert.deepEqual((e.details as { mirror: string }).mirror, "deb.debian.org");
  });

  it("debian-kernel: the host's apt sources are where its mirror is set", () => {
    const e = mirrorError("debian-kernel", failed(APT_DOWNLOAD_DNS_FAILURE));
    assert.ok(e);
    assert.match(e.message, /the package mirror deb\.debian\.org cannot be resolved/);
    assert.match(e.hint ?? "", /\/etc\/apt\/sources\.list/);
    assert.doesNotMatch(`${e.message} ${e.hint}`, /apt-get update/);
  });

  it("a mirror that does not answer is said so; other recipes and other failures are left alone", () => {
    const c = mirrorError("debian-bookworm", failed(MMDEBSTRAP_CONNECT_FAILURE));
    assert.match(c?.message ?? "", /mirror\.example\.net cannot be reached/);
    assert.equal(mirrorError("void", failed(MMDEBSTRAP_DNS_FAILURE)), null);
    assert.equal(mirrorError("debian-kernel", failed(APT_DOWNLOAD_STALE_LISTS)), null);
  });
});

describe("LocalRecipeRunner: debian-bookworm without DNS", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "banger-mirror-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const me: BuildUser = { kind: "self", name: "tester", uid: 1000, gid: 1000 };

  it("shows mmdebstrap's phases as progress, then fails naming the mirror", async () => {
    const runner = new FakeCommandRunner().on(["bash", "-c", PIPE_SCRIPT], (_argv, opts) => {
      for (const line of MMDEBSTRAP_DNS_FAILURE.split(/(?<=\n)/)) opts.onStderr?.(line);
      return { code: 1, stderr: MMDEBSTRAP_DNS_FAILURE };
    });
    const recipes = new LocalRecipeRunner({
      runner,
      cacheDir: path.join(dir, "cache"),
      agent: { sourceKey: async () => "agent", build: async () => path.join(dir, "agent") },
      buildUser: async () => me,
    });
    const events: ProgressEvent[] = [];
    const ctx = {
      workDir: path.join(dir, "work"),
      onProgress: (e: ProgressEvent) => events.push(e),
      catalogEntry: {},
    };
    await assert.rejects(recipes.run("debian-bookworm", ctx), (e: unknown) => {
      assert.ok(isBangerError(e));
      assert.match(e.message, /the package mirror deb\.debian\.org cannot be resolved/);
      assert.doesNotMatch(e.hint ?? "", /apt-get update/);
      return true;
    });
    const said = events
      .filter((e) => e.stage === "recipe:mmdebstrap" && e.phase === "info")
      .map((e) => e.message);
    assert.deepEqual(said, ["mmdebstrap: reading the package lists (0 s)"]);
  });
});
