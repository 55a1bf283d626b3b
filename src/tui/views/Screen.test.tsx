import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { cleanup, render } from "ink-testing-library";
import { reduce, type TuiState } from "../state.js";
import { image, run, stats, stopped, vm, withVms } from "../testFixtures.js";
import { Screen } from "./Screen.js";

afterEach(() => cleanup());

function frame(s: TuiState, color = false): string {
  const { lastFrame } = render(<Screen s={s} color={color} />);
  return lastFrame() ?? "";
}

const lines = (f: string) => f.split("\n");

function fleet(width = 80, height = 23): TuiState {
  return run(
    withVms(
      [
        vm("web"),
        stopped("db"),
        vm("broken", { state: "crashed", ip: "172.16.0.9", lastError: "exited" }),
        vm("api-server-with-a-long-name", { ip: "172.16.0.3" }),
      ],
      { width, height },
    ),
    {
      type: "stats-loaded",
      stats: [stats("web", 12.34, 180), stats("api-server-with-a-long-name", 0.5, 1536)],
    },
    { type: "health", report: { name: "web", status: "healthy", reason: "", guest: null, checkedAt: "" } },
    {
      type: "health",
      report: {
        name: "api-server-with-a-long-name",
        status: "unreachable",
        reason: "",
        guest: null,
        checkedAt: "",
      },
    },
  );
}

describe("VM list", () => {
  it("fits 80 columns with the essential columns, one row per VM, the selection marked", () => {
    const f = frame(fleet());
    for (const l of lines(f)) assert.ok(l.length <= 80, `too wide (${l.length}): ${l}`);
    assert.equal(lines(f).length, 23, "exactly the screen's height");
    const header = lines(f).find((l) => l.includes("NAME"))!;
    for (const col of ["NAME▲", "STATE", "IMAGE", "IP", "UP", "CPU%", "RSS", "HEALTH"])
      assert.ok(header.includes(col), col);
    const row = (name: string) => lines(f).find((l) => l.includes(` ${name.slice(0, 8)}`)) ?? "";
    assert.match(
      row("api-server"),
      /^> api-serve.*… +running +debian-12 +172\.16\.0\.3 +3m +0\.5 +1\.5G no reply/,
    );
    assert.match(row("web"), /^ {2}web +running +debian-12 +172\.16\.0\.2 +3m +12 +180M healthy/);
    assert.match(row("db"), /^ {2}db +stopped +debian-12 +172\.16\.0\.2 +- +- +- -/);
    assert.match(row("broken"), /crashed/);
    assert.match(f, /c create {2}S start {2}x stop/);
    assert.match(f, /\? keys {2}q quit/);
  });

  it("shows vCPU and memory when there is room", () => {
    const f = frame(fleet(120));
    assert.match(f, /VCPU +MEM/);
    assert.match(lines(f).find((l) => l.includes("web"))!, / 2 +2G +172\.16\.0\.2/);
  });

  it("has an empty state saying what to do", () => {
    const f = frame(withVms([]));
    assert.match(f, /No VMs yet\./);
    assert.match(f, /Press c to create one/);
  });

  it("says when the filter hides every VM", () => {
    const s = run(fleet(), { type: "filter-start" }, { type: "filter-type", text: "zzz" });
    assert.match(frame(s), /No VM matches "zzz" — Esc clears the filter/);
    assert.match(frame(s), /filter: zzz▏/);
  });

  it("keeps the selected row visible in a long list", () => {
    const many = Array.from({ length: 60 }, (_, i) => vm(`vm${String(i).padStart(2, "0")}`));
    const s = run(withVms(many), { type: "move-to", where: "bottom" });
    const f = frame(s);
    assert.match(f, /^> vm59/m);
    assert.doesNotMatch(f, /vm00/);
  });
});

describe("status, help and overlays", () => {
  it("shows an error's message and hint", () => {
    const s = reduce(fleet(), {
      type: "error",
      error: {
        code: "PREFLIGHT_FAILED",
        message: "qemu-system-x86_64 not found",
        hint: "apt-get install qemu-system-x86",
      },
    });
    const f = frame(s);
    assert.match(f, /^error: qemu-system-x86_64 not found$/m);
    assert.match(f, /^ {2}hint: apt-get install qemu-system-x86$/m);
    assert.equal(lines(f).length, 23);
  });

  it("? lists every key", () => {
    const f = frame(reduce(fleet(80, 40), { type: "help" }));
    assert.match(f, /Keys/);
    assert.match(f, /ssh into it \(the TUI steps aside until you exit\)/);
    assert.match(f, /delete it \(asks y\/N\)/);
    assert.match(f, /any key close/);
  });

  it("asks before deleting", () => {
    const f = frame(reduce(fleet(), { type: "ask-delete" }));
    assert.match(f, /Delete VM api-server-with-a-long-name\? It is running: it is stopped first,/);
    assert.match(f, /│ then its disks are deleted\. +│/);
    assert.match(f, /y: delete {4}n, Esc or Enter: keep it/);
    for (const l of lines(f)) assert.ok(l.length <= 80, l);
  });

  it("shows the connection: live, polling, reconnecting", () => {
    assert.match(lines(frame(fleet()))[0]!, /\[1 VMs\] {2}2 Images {3}3 Kernels +● live$/);
    const down = reduce(fleet(), {
      type: "conn-down",
      reason: "the daemon closed the connection",
      attempt: 2,
      retryInMs: 1000,
    });
    const f = frame(down);
    assert.match(lines(f)[0]!, /reconnecting… \(try 2, next in 1s\)$/);
    assert.match(f, /reconnecting… lost the daemon: the daemon closed the connection/);
  });
});

describe("views", () => {
  it("the create form shows the defaults as placeholders", () => {
    const s = run(
      withVms([]),
      { type: "images-loaded", images: [image("tiny")] },
      { type: "defaults", defaults: { vcpu: 2, memoryMib: 2048, diskSizeBytes: 8 * 1024 ** 3 } },
      { type: "open-create" },
      { type: "form-type", text: "web" },
    );
    const f = frame(s);
    assert.match(f, /^> Name {4}\[web▏ +\]/m);
    assert.match(f, /^ {2}Image {3}< tiny > {2}\(1 of 1\)/m);
    assert.match(f, /vCPUs .*empty: default \(2\)/);
    assert.match(f, /Memory .*empty: default \(2G\)/);
    assert.match(f, /Disk .*empty: default \(8G\)/);
    assert.match(f, /⏎ create {2}Esc cancel/);
  });

  it("a create shows its stages, with a bar for counted progress", () => {
    let s = run(
      withVms([]),
      { type: "open-create" },
      { type: "form-type", text: "web" },
      { type: "form-submit" },
    );
    s = run(
      s,
      {
        type: "op-progress",
        id: 1,
        event: { kind: "progress", stage: "disks", message: "disks: work disk", phase: "done", ms: 1200 },
      },
      {
        type: "op-progress",
        id: 1,
        event: {
          kind: "progress",
          stage: "pull",
          message: "download",
          phase: "info",
          current: 50 * 1024 ** 2,
          total: 200 * 1024 ** 2,
        },
      },
    );
    const f = frame(s);
    assert.match(f, /Creating web…/);
    assert.match(f, /✓ disks: work disk \(1\.2 s\)/);
    assert.match(f, /download \[#+\.+\] +25% 50M\/200M/);
  });

  it("details show spec, driver and reason, paths and the last boot's stages", () => {
    const s = run(fleet(), { type: "move-to", where: "bottom" }, { type: "open-details" });
    const f = frame(s);
    assert.match(f, /VM web/);
    assert.match(f, /spec +2 vCPU · 2048 MiB memory · 8G disk/);
    assert.match(f, /driver +qemu \(TCG\) — vmm = qemu \(TCG software emulation/);
    assert.match(f, /console log +\/home\/u\/.*\/console\.log/);
    const tall = frame({ ...s, screen: { width: 100, height: 60 } });
    assert.match(tall, /last boot stages \(160 ms in all\):/);
    assert.match(tall, /boot:spawn +40 ms #+/);
  });

  it("logs show the newest lines and where they come from", () => {
    const s = run(
      fleet(),
      { type: "open-logs" },
      {
        type: "log-data",
        streamId: 1,
        data: Array.from({ length: 40 }, (_, i) => `console line ${i}`).join("\n"),
      },
    );
    const f = frame(s);
    assert.match(f, /Logs of api-server-with-a-long-name \(guest console\) — following/);
    assert.match(f, /console line 39/);
    assert.doesNotMatch(f, /console line 5$/m);
  });

  it("the images tab shows local and available entries, with a pull's progress bar", () => {
    let s = run(
      withVms([]),
      { type: "images-loaded", images: [image("tiny", ["web"])] },
      {
        type: "catalog-loaded",
        what: "image",
        entries: [
          {
            kind: "image",
            name: "debian-12",
            version: "12.8",
            arch: "x86_64",
            description: "Debian 12",
            sizeBytes: 300 * 1024 ** 2,
            hasBundle: true,
            hasRecipe: true,
            origin: "embedded",
            installed: false,
          },
        ],
      },
      { type: "tab", tab: "images" },
      { type: "move", delta: 1 },
      { type: "pull" },
    );
    s = reduce(s, {
      type: "op-progress",
      id: 1,
      event: {
        kind: "progress",
        stage: "download",
        message: "download",
        phase: "info",
        current: 150 * 1024 ** 2,
        total: 300 * 1024 ** 2,
      },
    });
    const f = frame(s);
    assert.match(f, /\[2 Images\]/);
    assert.match(f, /^ {2}tiny +local +1 +200M used by web/m);
    assert.match(f, /^> debian-12 +available +12\.8 +300M \[#+\.+\] +50% 150M\/300M/m);
    assert.match(f, /p pull {2}d delete/);
  });
});
