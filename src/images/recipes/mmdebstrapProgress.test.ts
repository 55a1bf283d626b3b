import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MmdebstrapProgress, mmdebstrapPhase } from "./mmdebstrapProgress.js";
import { MMDEBSTRAP_DNS_FAILURE, MMDEBSTRAP_SUCCESS } from "./testAptOutputs.js";

/** A progress watcher on a fake clock whose heartbeat the test fires by hand. */
function watcher() {
  const said: string[] = [];
  let clock = 1_000_000;
  const beats: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
  const p = new MmdebstrapProgress((m) => said.push(m), {
    now: () => clock,
    repeat: (fn, ms) => {
      const b = { fn, ms, cancelled: false };
      beats.push(b);
      return () => {
        b.cancelled = true;
      };
    },
  });
  return { p, said, beats, advance: (ms: number) => (clock += ms) };
}

describe("mmdebstrap progress", () => {
  it("knows its phase lines and nothing else", () => {
    assert.equal(mmdebstrapPhase("I: running apt-get update..."), "reading the package lists");
    assert.equal(
      mmdebstrapPhase("I: installing remaining packages inside the chroot...\r"),
      "installing the other packages",
    );
    assert.equal(mmdebstrapPhase("I: using /tmp/mmdebstrap.x as tempdir"), null);
    assert.equal(
      mmdebstrapPhase("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"),
      null,
    );
  });

  it("reports each phase once, with the elapsed time, even when lines arrive in pieces", () => {
    const w = watcher();
    for (const line of MMDEBSTRAP_SUCCESS.split(/(?<=\n)/)) {
      if (line.startsWith("I: downloading")) w.advance(3_000);
      if (line.startsWith("I: installing remaining")) w.advance(40_000);
      const cut = Math.floor(line.length / 2); // each line arrives in two pieces
      w.p.feed(line.slice(0, cut));
      w.p.feed(line.slice(cut));
    }
    assert.deepEqual(w.said, [
      "mmdebstrap: reading the package lists (0 s)",
      "mmdebstrap: downloading packages (3 s)",
      "mmdebstrap: unpacking the essential packages (3 s)",
      "mmdebstrap: installing the essential packages (3 s)",
      "mmdebstrap: installing the other packages (43 s)",
      "mmdebstrap: cleaning the apt cache (43 s)",
      "mmdebstrap: writing the tree (43 s)",
    ]);
  });

  it("says it is still running at least every 2 s, until stopped", () => {
    const w = watcher();
    assert.equal(w.beats.length, 1);
    assert.ok(w.beats[0]!.ms <= 2000, `every ${w.beats[0]!.ms} ms`);
    w.advance(2000);
    w.beats[0]!.fn();
    assert.deepEqual(w.said, ["mmdebstrap: starting, still running (2 s)"]);
    w.p.feed(MMDEBSTRAP_DNS_FAILURE.split("\n").slice(0, 5).join("\n"));
    w.advance(2000);
    w.beats[0]!.fn();
    assert.equal(w.said.at(-1), "mmdebstrap: reading the package lists, still running (4 s)");
    w.p.stop();
    assert.equal(w.beats[0]!.cancelled, true);
  });
});
