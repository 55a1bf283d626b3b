/**
 * A full state directory (reliability issue 12): the daemon's state dir is a
 * small tmpfs this test mounts (and unmounts), filled up to a few MiB. Then
 * `vm create`, `image pull` (a file:// catalog) and `image register` must fail with a clear
 * error (no space, which directory, how much is needed, a hint) and leave
 * nothing half-made: no VM row or directory, no lease, no TAP, no partial
 * image directory or pull leftovers. Once space is freed both succeed. No
 * guest boots; the daemon runs in a network namespace this test creates.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { VmListResult } from "../../src/api/vms.js";
import { writeBundle } from "../../src/catalog/bundle.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { NsSandbox, registerArgs, tinyConfig } from "../helpers/nsSandbox.js";
import type { CliResult } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const skip = process.getuid?.() !== 0 ? "needs root (network namespaces, mount)" : false;
const MiB = 1024 ** 2;
let t: NsSandbox;
let guest: TestGuest;
let mounted = false;
let work: string;

/** Bytes free on the state dir's filesystem. */
const free = () => {
  const s = statfsSync(t.sb.stateDir);
  return s.bavail * s.bsize;
};
const filler = () => path.join(t.sb.stateDir, "filler");

/** Fill the state dir until only `leave` bytes are free. */
async function fillUpTo(leave: number): Promise<void> {
  const n = free() - leave;
  assert.ok(n > 0, `only ${free()} bytes free`);
  await runner.run(["fallocate", "-l", String(n), filler()]);
}

/** Write zeros into `file` until the filesystem refuses (tmpfs keeps a few pages fallocate cannot take). */
async function fillAll(file: string): Promise<void> {
  const r = await runner.run(["dd", "if=/dev/zero", `of=${file}`, "bs=4k"], { allowFailure: true });
  assert.match(r.stderr, /No space left on device/, r.stderr);
}

function taps(): string[] {
  const all = JSON.parse(t.inNs("ip", ["-j", "tuntap", "show"]) || "[]") as Array<{ ifname: string }>;
  return all.map((x) => x.ifname).sort();
}

function leases(): unknown[] {
  const db = new DatabaseSync(path.join(t.sb.stateDir, "banger.db"), { readOnly: true });
  try {
    return db.prepare("SELECT ip FROM leases").all();
  } finally {
    db.close();
  }
}

const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** The error names the lack of space, where, how much is needed, and says what to do. */
function assertClearNoSpace(r: CliResult, what: string, needs = true): void {
  const out = `${what} exited ${r.code}:\n${r.stderr}${r.stdout}`;
  process.stderr.write(`# ${what}: ${r.stderr.trim().split("\n").slice(-2).join(" / ")}\n`);
  assert.notEqual(r.code, 0, out);
  assert.match(r.stderr, /no space left|ENOSPC|is full/i, out);
  assert.ok(r.stderr.includes(t.sb.stateDir), `names the state directory: ${out}`);
  if (needs)
    assert.match(
      r.stderr,
      /needs? (about |at least )?\d+(\.\d+)? ?[KMG]i?B?\b.*\d+(\.\d+)? ?[KMG]i?B? free/,
      out,
    );
  assert.match(r.stderr, /hint:.*(free|df -h)/, out);
  assert.doesNotMatch(r.stderr, /not a valid gzip|INTERNAL|undefined/, out);
}

describe("a full state directory: clear errors, nothing half-made", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    work = await import("node:fs/promises").then((fs) => fs.mkdtemp(path.join(os.tmpdir(), "bgfull-")));
    t = await NsSandbox.create("bgfull");
    mkdirSync(t.sb.stateDir, { recursive: true, mode: 0o700 });
    await runner.run(["mount", "-t", "tmpfs", "-o", "size=300m,mode=0700", "tmpfs", t.sb.stateDir]);
    mounted = true;
    const bundle = path.join(work, "timg.tar.gz");
    await writeBundle(bundle, {
      kind: "image",
      name: "timg",
      version: "1.0",
      arch: "x86_64",
      files: { rootfs: guest.rootfs, workSeed: guest.workSeed, kernel: guest.vmlinux, initrd: guest.initrd },
    });
    const body = readFileSync(bundle);
    const entry = {
      name: "timg",
      version: "1.0-20260101",
      arch: "x86_64",
      description: "the test guest as a bundle",
      sizeBytes: [guest.rootfs, guest.workSeed, guest.vmlinux, guest.initrd]
        .map((f) => statSync(f).size)
        .reduce((a, b) => a + b),
      bundle: {
        url: pathToFileURL(bundle).href,
        sha256: createHash("sha256").update(body).digest("hex"),
        sizeBytes: body.length,
      },
    };
    const catalog = path.join(work, "images.json");
    writeFileSync(catalog, JSON.stringify({ format: 1, kind: "image", entries: [entry] }));
    t.sb.writeConfig(
      tinyConfig({
        defaultImage: "tiny",
        extra: [`image_catalog_url = "${pathToFileURL(catalog).href}"`, "[network]", "tap_pool_size = 1"],
      }),
    );
    await t.ok(registerArgs("tiny", guest));
  });

  after(async () => {
    await t?.cli(["daemon", "stop"]).catch(() => undefined);
    if (mounted) {
      const r = await runner.run(["umount", t.sb.stateDir], { allowFailure: true });
      if (r.code !== 0) await runner.run(["umount", "-l", t.sb.stateDir], { allowFailure: true });
    }
    await t?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("vm create fails naming the full disk and what it needs; no row, dir, lease or TAP is left", async () => {
    const tapsBefore = taps();
    const imagesBefore = list(path.join(t.sb.stateDir, "images"));
    await fillUpTo(2 * MiB);
    const r = await t.cli(["vm", "create", "--name", "full1"]);
    assertClearNoSpace(r, "vm create");
    const vms = await t.json<VmListResult>(["vm", "list"]);
    assert.deepEqual(vms.vms, [], "no VM row");
    assert.deepEqual(list(path.join(t.sb.stateDir, "vms")), [], "no VM directory");
    assert.deepEqual(leases(), [], "no lease");
    assert.deepEqual(taps(), tapsBefore, "no TAP taken");
    assert.deepEqual(list(path.join(t.sb.stateDir, "images")), imagesBefore, "images untouched");
  });

  test("image pull fails naming the full disk and what it needs; no partial image is left", async () => {
    const imagesBefore = list(path.join(t.sb.stateDir, "images"));
    const r = await t.cli(["image", "pull", "timg"]);
    assertClearNoSpace(r, "image pull");
    const imgs = await t.json<{ images: Array<{ name: string }> }>(["image", "list"]);
    assert.deepEqual(
      imgs.images.map((i) => i.name),
      ["tiny"],
    );
    assert.deepEqual(list(path.join(t.sb.stateDir, "images")), imagesBefore, "no partial image directory");
    assert.deepEqual(list(path.join(t.sb.stateDir, "kernels")), [], "no kernel directory");
  });

  test("image register fails the same way and leaves no image directory", async () => {
    const imagesBefore = list(path.join(t.sb.stateDir, "images"));
    const r = await t.cli(registerArgs("tiny2", guest));
    assertClearNoSpace(r, "image register");
    assert.deepEqual(list(path.join(t.sb.stateDir, "images")), imagesBefore, "no partial image directory");
  });

  test("with not a byte free, vm create still fails clearly and leaves nothing", async () => {
    await runner.run(["fallocate", "-l", String(free()), `${filler()}2`]).catch(() => undefined);
    await fillAll(`${filler()}3`);
    const r = await t.cli(["vm", "create", "--name", "full2"]);
    // The row is the first thing written: the database cannot grow. (It needs a few KiB: no figure.)
    assertClearNoSpace(r, "vm create (0 bytes free)", false);
    rmSync(`${filler()}2`, { force: true });
    rmSync(`${filler()}3`, { force: true });
    const vms = await t.json<VmListResult>(["vm", "list"]);
    assert.deepEqual(vms.vms, [], "no VM row");
    assert.deepEqual(list(path.join(t.sb.stateDir, "vms")), [], "no VM directory");
    assert.deepEqual(leases(), [], "no lease");
  });

  test("with the space back, the same create and pull succeed", async () => {
    rmSync(filler());
    await t.ok(["vm", "create", "--name", "full1", "--no-start"]);
    await t.ok(["image", "pull", "timg"]);
    await t.ok(["vm", "delete", "full1"]);
    await t.ok(["image", "delete", "timg"]);
    assert.deepEqual(leases(), []);
    assert.deepEqual(list(path.join(t.sb.stateDir, "vms")), []);
  });
});
