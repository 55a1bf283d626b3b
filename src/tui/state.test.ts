import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDefaults, validateForm } from "./form.js";
import { cleanLog } from "./format.js";
import { keyAction, splitKeys } from "./keys.js";
import { healthOf, visibleVms } from "./selectors.js";
import { initialState, reduce, type TuiState } from "./state.js";
import { image, NOW, run, stats, stopped, vm, withVms } from "./testFixtures.js";

const names = (s: TuiState) => visibleVms(s).map((v) => v.name);
const press = (s: TuiState, ...keys: Array<string | Record<string, boolean>>) =>
  keys.reduce((acc: TuiState, k) => {
    const a = typeof k === "string" ? keyAction(acc, k, {}) : keyAction(acc, "", k);
    return a ? reduce(acc, a) : acc;
  }, s);

describe("list updates from daemon events", () => {
  it("loads, upserts and removes VMs", () => {
    let s = withVms([vm("web"), stopped("db")]);
    assert.deepEqual(names(s), ["db", "web"]);
    s = reduce(s, { type: "vm-upsert", vm: vm("api") });
    assert.deepEqual(names(s), ["api", "db", "web"]);
    s = reduce(s, { type: "vm-upsert", vm: stopped("web") });
    assert.equal(s.vms.find((v) => v.name === "web")?.state, "stopped");
    assert.equal(s.vms.length, 3);
    s = reduce(s, { type: "vm-removed", name: "db" });
    assert.deepEqual(names(s), ["api", "web"]);
  });

  it("keeps stats and health by name, and drops health when a VM stops", () => {
    let s = withVms([vm("web")]);
    s = run(
      s,
      { type: "stats-loaded", stats: [stats("web", 12.5, 300)] },
      { type: "health", report: { name: "web", status: "healthy", reason: "", guest: null, checkedAt: "" } },
    );
    assert.equal(s.stats.web?.cpuPercent, 12.5);
    assert.equal(healthOf(s, s.vms[0]!), "healthy");
    s = reduce(s, { type: "vm-upsert", vm: stopped("web") });
    assert.equal(s.health.web, undefined);
  });
});

describe("sort and filter", () => {
  const vms = [
    vm("alpha", { spec: { vcpu: 4, memoryMib: 1024, diskSizeBytes: 1 } }),
    stopped("bravo", { spec: { vcpu: 1, memoryMib: 4096, diskSizeBytes: 1 } }),
    vm("charlie", {
      spec: { vcpu: 2, memoryMib: 512, diskSizeBytes: 1 },
      image: { id: "i", name: "alpine" },
    }),
  ];

  it("s cycles the sort column, o reverses it", () => {
    let s = withVms(vms);
    assert.equal(s.sort.key, "name");
    s = press(s, "s");
    assert.equal(s.sort.key, "state");
    assert.deepEqual(
      names(s),
      ["bravo", "alpha", "charlie"],
      "stopped sorts before running (lifecycle order)",
    );
    s = press(s, "s", "s");
    assert.equal(s.sort.key, "vcpu");
    assert.deepEqual(names(s), ["bravo", "charlie", "alpha"]);
    s = press(s, "o");
    assert.deepEqual(names(s), ["alpha", "charlie", "bravo"]);
    s = press(s, "s");
    assert.equal(s.sort.key, "memory");
    assert.deepEqual(names(s), ["bravo", "alpha", "charlie"]);
  });

  it("sorting by CPU puts VMs without a sample last in both directions", () => {
    let s = run(withVms(vms), {
      type: "stats-loaded",
      stats: [stats("alpha", 5, 1), stats("charlie", 50, 1)],
    });
    s = { ...s, sort: { key: "cpu", desc: false } };
    assert.deepEqual(names(s), ["alpha", "charlie", "bravo"]);
    s = { ...s, sort: { key: "cpu", desc: true } };
    assert.deepEqual(names(s), ["charlie", "alpha", "bravo"]);
  });

  it("/ then text filters on name, state, image or IP; Enter keeps it; Esc clears it", () => {
    let s = press(withVms(vms), "/", "a", "l", "p");
    assert.equal(s.filter.editing, true);
    assert.deepEqual(names(s), ["alpha", "charlie"], "alp matches alpha by name and charlie by image");
    s = press(s, { backspace: true }, { delete: true }, { backspace: true }, "s", "t", "o", "p");
    assert.deepEqual(names(s), ["bravo"]);
    s = press(s, { return: true });
    assert.equal(s.filter.editing, false);
    assert.equal(s.filter.text, "stop");
    s = press(s, { backspace: true }); // not editing any more: a no-op in the list
    s = run(s, { type: "filter-start" }, { type: "filter-backspace" }, { type: "filter-backspace" });
    s = press(s, { escape: true });
    assert.deepEqual(s.filter, { text: "", editing: false });
    assert.deepEqual(names(s), ["alpha", "bravo", "charlie"]);
  });

  it("the selection follows the filter onto a visible row", () => {
    let s = withVms(vms);
    assert.equal(s.selected.vms, "alpha");
    s = press(s, "/", "b", "r");
    assert.equal(s.selected.vms, "bravo");
  });
});

describe("selection stays on the same VM across updates", () => {
  it("through reloads, new VMs sorted before it, and state changes", () => {
    let s = withVms([vm("b"), vm("c")]);
    s = press(s, "j");
    assert.equal(s.selected.vms, "c");
    s = reduce(s, { type: "vm-upsert", vm: vm("a") });
    assert.equal(s.selected.vms, "c");
    s = reduce(s, { type: "vms-loaded", vms: [vm("c"), vm("aa"), vm("a"), vm("b")], problems: [] });
    assert.equal(s.selected.vms, "c");
    s = { ...s, sort: { key: "state", desc: false } };
    s = reduce(s, { type: "vm-upsert", vm: stopped("c") });
    assert.equal(s.selected.vms, "c");
  });

  it("moves to the row in the same place when the selected VM goes away", () => {
    let s = withVms([vm("a"), vm("b"), vm("c")]);
    s = press(s, "j");
    s = reduce(s, { type: "vm-removed", name: "b" });
    assert.equal(s.selected.vms, "c");
    s = reduce(s, { type: "vm-removed", name: "c" });
    assert.equal(s.selected.vms, "a");
    s = reduce(s, { type: "vm-removed", name: "a" });
    assert.equal(s.selected.vms, null);
  });

  it("moves stop at the ends; Home/End and pages jump", () => {
    const many = Array.from({ length: 40 }, (_, i) => vm(`vm${String(i).padStart(2, "0")}`));
    let s = withVms(many);
    s = press(s, "k");
    assert.equal(s.selected.vms, "vm00");
    s = press(s, { pageDown: true });
    assert.ok(s.selected.vms! > "vm10", s.selected.vms!);
    s = press(s, "G");
    assert.equal(s.selected.vms, "vm39");
    s = press(s, "j", { home: true });
    assert.equal(s.selected.vms, "vm00");
  });
});

describe("actions on the selected VM", () => {
  it("delete asks y/N; n keeps it; y queues a forced delete of a running VM", () => {
    let s = withVms([vm("web"), stopped("db")]);
    s = press(s, "j", "d");
    assert.deepEqual(s.mode, { kind: "confirm", target: { what: "vm", name: "web", running: true } });
    s = press(s, "n");
    assert.equal(s.mode.kind, "list");
    assert.deepEqual(s.outbox, []);
    s = press(s, "d", { escape: true });
    assert.equal(s.mode.kind, "list");
    s = press(s, "d", "y");
    assert.equal(s.mode.kind, "list");
    assert.deepEqual(s.outbox, [{ id: 1, kind: "vm-op", op: "delete", name: "web", force: true }]);
    s = reduce(s, { type: "op-done", id: 1 });
    assert.deepEqual(names(s), ["db"]);
    assert.equal(s.selected.vms, "db");
    assert.equal(s.status?.text, "deleted web");
  });

  it("a stopped VM is deleted without force", () => {
    let s = withVms([stopped("db")]);
    s = press(s, "d", "y");
    assert.equal(s.outbox[0]?.kind === "vm-op" && s.outbox[0].force, false);
  });

  it("start, stop and restart are refused with a reason when they do not apply", () => {
    let s = withVms([stopped("db")]);
    s = press(s, "x");
    assert.equal(s.status?.kind, "error");
    assert.match(s.status?.text ?? "", /db is stopped — S to start it/);
    s = press(s, "S");
    assert.deepEqual(s.outbox, [{ id: 1, kind: "vm-op", op: "start", name: "db" }]);
    assert.ok(s.ops[1]);
    s = reduce(s, {
      type: "op-progress",
      id: 1,
      event: { kind: "progress", stage: "boot:spawn", message: "boot: spawn", phase: "start" },
    });
    assert.equal(s.ops[1]?.last?.message, "boot: spawn");
    s = reduce(s, { type: "op-done", id: 1, vm: vm("db") });
    assert.equal(s.vms[0]?.state, "running");
    assert.equal(s.status?.text, "db running at 172.16.0.2");
    assert.deepEqual(s.ops, {});
  });

  it("ssh is queued for a running VM; afterwards the note says it still runs", () => {
    let s = withVms([vm("web")]);
    s = press(s, "e");
    assert.deepEqual(s.outbox, [{ id: 1, kind: "ssh", name: "web" }]);
    s = reduce(s, { type: "ssh-returned", name: "web", vm: vm("web"), error: null });
    assert.equal(s.status?.text, "web still running (up 3m) — x to stop");
    s = reduce(s, { type: "ssh-returned", name: "web", vm: stopped("web"), error: null });
    assert.equal(s.status?.text, "web is stopped");
  });
});

describe("errors", () => {
  it("a failed operation shows its message and hint; Esc clears the status", () => {
    let s = withVms([stopped("db")]);
    s = press(s, "S");
    s = reduce(s, {
      type: "op-failed",
      id: 1,
      error: {
        code: "PREFLIGHT_FAILED",
        message: "qemu-system-x86_64 not found",
        hint: "apt-get install qemu-system-x86",
      },
    });
    assert.deepEqual(s.status, {
      kind: "error",
      text: "starting db failed: qemu-system-x86_64 not found",
      hint: "apt-get install qemu-system-x86",
    });
    assert.deepEqual(s.ops, {});
    s = press(s, { escape: true });
    assert.equal(s.status, null);
  });

  it("an error from a background call shows too", () => {
    const s = reduce(withVms([]), { type: "error", error: { code: "STORE", message: "database is locked" } });
    assert.deepEqual(s.status, { kind: "error", text: "database is locked" });
  });
});

describe("reconnect", () => {
  it("connection loss shows reconnecting, refuses actions, and says so when back", () => {
    let s = withVms([vm("web")]);
    s = reduce(s, {
      type: "conn-down",
      reason: "the daemon closed the connection",
      attempt: 1,
      retryInMs: 500,
    });
    assert.deepEqual(s.conn, {
      status: "reconnecting",
      attempt: 1,
      retryInMs: 500,
      reason: "the daemon closed the connection",
    });
    assert.equal(s.vms.length, 1, "the last known list stays on screen");
    s = press(s, "x");
    assert.deepEqual(s.outbox, []);
    assert.match(s.status?.text ?? "", /not connected to the daemon; reconnecting/);
    s = run(s, { type: "conn-connecting", attempt: 1 }, { type: "conn-up", watch: "events" });
    assert.deepEqual(s.conn, { status: "connected", watch: "events" });
    assert.equal(s.status?.text, "reconnected to the daemon");
    s = press(s, "q");
    assert.equal(s.outbox.at(-1)?.kind, "quit");
  });

  it("the first connection is not a reconnect", () => {
    const s = run(
      initialState(NOW),
      { type: "conn-connecting", attempt: 0 },
      { type: "conn-up", watch: "polling" },
    );
    assert.equal(s.status, null);
    assert.deepEqual(s.conn, { status: "connected", watch: "polling" });
  });
});

describe("create form", () => {
  const base = () =>
    run(withVms([]), { type: "images-loaded", images: [image("debian-12"), image("alpine")] });

  it("validates, then queues vm.create with only the fields given, and shows progress until done", () => {
    let s = press(base(), "c");
    assert.equal(s.mode.kind, "form");
    s = press(s, "W", "e", "b");
    s = press(s, { return: true });
    assert.equal(s.mode.kind === "form" && s.mode.form.error?.startsWith("name:"), true);
    s = press(s, { backspace: true }, { backspace: true }, { backspace: true }, "w", "e", "b");
    s = press(
      s,
      { tab: true },
      { rightArrow: true },
      { tab: true },
      "2",
      { tab: true },
      "1",
      "5",
      "3",
      "6",
      "M",
    );
    s = press(s, { return: true });
    assert.equal(s.mode.kind, "creating");
    assert.deepEqual(s.outbox, [
      {
        id: 1,
        kind: "create",
        params: { name: "web", vcpu: 2, memoryMib: 1536, image: "alpine", start: true },
        pull: null,
      },
    ]);
    const p = (stage: string, phase: "start" | "done", ms?: number) =>
      ({
        type: "op-progress",
        id: 1,
        event: { kind: "progress", stage, message: stage, phase, ...(ms ? { ms } : {}) },
      }) as const;
    s = run(s, p("disks", "start"), p("disks", "done", 120), p("boot:spawn", "start"));
    assert.deepEqual(s.mode.kind === "creating" && s.mode.lines.map((l) => `${l.stage}:${l.phase}`), [
      "disks:done",
      "boot:spawn:start",
    ]);
    s = reduce(s, { type: "op-done", id: 1, vm: vm("web") });
    assert.equal(s.mode.kind, "list");
    assert.equal(s.selected.vms, "web");
    assert.equal(s.status?.text, "created web (running at 172.16.0.2)");
  });

  it("a failed create stays on the progress view with the error; Enter goes back to the form", () => {
    let s = press(base(), "c", { return: true });
    s = reduce(s, {
      type: "op-failed",
      id: 1,
      error: { code: "CONFLICT", message: "no free address", hint: "delete a VM" },
    });
    assert.equal(s.mode.kind === "creating" && s.mode.error?.message, "no free address");
    s = press(s, { return: true });
    assert.equal(s.mode.kind, "form");
    s = press(s, { escape: true });
    assert.equal(s.mode.kind, "list");
  });

  it("empty fields mean defaults; sizes parse like the CLI; catalog images are pulled first", () => {
    const s = run(base(), {
      type: "catalog-loaded",
      what: "image",
      entries: [
        {
          kind: "image",
          name: "ubuntu",
          version: "24.04",
          arch: "x86_64",
          description: "",
          sizeBytes: 1,
          hasBundle: true,
          hasRecipe: true,
          origin: "embedded",
          installed: false,
        },
      ],
    });
    const form = { name: "", image: 2, vcpu: "", memory: "", disk: "", focus: 0, error: null };
    assert.deepEqual(validateForm(s, form), { ok: true, params: { image: "ubuntu" }, pull: "ubuntu" });
    const bad = validateForm(s, { ...form, memory: "1.5K" });
    assert.equal(bad.ok, false);
    const disk = validateForm(s, { ...form, image: 0, disk: "4G", vcpu: "65" });
    assert.deepEqual(disk, { ok: false, error: "vcpu: a whole number from 1 to 64", focus: 2 });
  });

  it("reads the defaults from the doctor's vm-defaults detail", () => {
    assert.deepEqual(
      parseDefaults(
        "vcpu 2 (auto) · memory 2048 MiB (auto) · disk 8G (builtin); override in [vm_defaults] of x",
      ),
      { vcpu: 2, memoryMib: 2048, diskSizeBytes: 8 * 1024 ** 3 },
    );
  });
});

describe("logs view", () => {
  it("follows vm.logs output by lines, scrolls, and closes its stream on the way out", () => {
    let s = press(withVms([vm("web")]), "l");
    assert.deepEqual(s.outbox, [{ id: 1, kind: "logs-open", streamId: 1, name: "web", source: "console" }]);
    s = reduce(s, { type: "outbox-taken", ids: [1] });
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n");
    s = run(
      s,
      { type: "log-data", streamId: 1, data: `${lines}\npart` },
      { type: "log-data", streamId: 1, data: "ial\u001b[1m!\r\n" },
    );
    assert.equal(s.mode.kind === "logs" && s.mode.lines.at(-1), "partial!");
    s = press(s, { pageUp: true });
    const up = s.mode.kind === "logs" ? s.mode.scroll : -1;
    assert.ok(up > 0);
    s = reduce(s, { type: "log-data", streamId: 1, data: "more\n" });
    assert.equal(
      s.mode.kind === "logs" && s.mode.scroll,
      up + 1,
      "scrolled up, the view stays on the same lines",
    );
    s = press(s, "f");
    assert.equal(s.mode.kind === "logs" && s.mode.scroll, 0);
    s = reduce(s, { type: "log-data", streamId: 99, data: "other stream\n" });
    s = press(s, "q");
    assert.equal(s.mode.kind, "list");
    assert.deepEqual(s.outbox, [{ id: 2, kind: "logs-close", streamId: 1 }]);
  });

  it("strips terminal escapes from console output", () => {
    assert.equal(cleanLog("\u001b[0;32mOK\u001b[0m\tdone\u0007"), "OK    done");
  });
});

describe("images and kernels tabs", () => {
  it("pull applies to available entries and delete to local ones (with confirmation)", () => {
    let s = run(
      withVms([]),
      { type: "images-loaded", images: [image("tiny")] },
      {
        type: "catalog-loaded",
        what: "image",
        entries: [
          {
            kind: "image",
            name: "tiny",
            version: "1",
            arch: "x86_64",
            description: "",
            sizeBytes: 1,
            hasBundle: true,
            hasRecipe: false,
            origin: "embedded",
            installed: true,
          },
          {
            kind: "image",
            name: "debian-12",
            version: "1",
            arch: "x86_64",
            description: "Debian",
            sizeBytes: 1,
            hasBundle: true,
            hasRecipe: false,
            origin: "embedded",
            installed: false,
          },
        ],
      },
    );
    s = press(s, "2");
    assert.equal(s.tab, "images");
    assert.equal(s.selected.images, "local:tiny");
    s = press(s, "p");
    assert.equal(s.status?.kind, "error");
    s = press(s, "j", "p");
    assert.deepEqual(s.outbox, [{ id: 1, kind: "pull", what: "image", name: "debian-12" }]);
    s = press(s, "k", "d");
    assert.deepEqual(s.mode, { kind: "confirm", target: { what: "image", name: "tiny" } });
    s = press(s, "y");
    assert.deepEqual(s.outbox.at(-1), { id: 2, kind: "artifact-delete", what: "image", name: "tiny" });
  });
});

describe("keys", () => {
  it("splits a chunk of keys read at once", () => {
    assert.deepEqual(splitKeys("ab\t", {}), [
      ["a", {}],
      ["b", {}],
      ["", { tab: true }],
    ]);
    assert.deepEqual(splitKeys("abc", {}), [["abc", {}]]);
  });

  it("Ctrl+C quits from anywhere; ? toggles help", () => {
    let s = press(withVms([vm("a")]), "?");
    assert.equal(s.mode.kind, "help");
    s = press(s, "x");
    assert.equal(s.mode.kind, "list");
    s = press(s, "c");
    assert.deepEqual(keyAction(s, "c", { ctrl: true }), { type: "quit" });
  });
});
