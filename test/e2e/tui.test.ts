/**
 * End to end: the real `banger tui` in a tmux pane, against a real daemon
 * that boots the tiny test guest with QEMU inside a network namespace this
 * test creates and deletes. The test types keys and reads the screen as a
 * person sees it (tmux capture-pane).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { waitFor as waitUntil } from "../../src/util/poll.js";
import { shellQuote } from "../../src/util/shellQuote.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { registerArgs } from "../helpers/nsSandbox.js";
import { repoRoot } from "../helpers/repoRoot.js";
import { isAlive, Sandbox, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const isRoot = process.getuid?.() === 0;
const onPath = (bin: string) =>
  (process.env.PATH ?? "/usr/bin:/bin").split(":").some((d) => existsSync(path.join(d, bin)));
const skip = !isRoot
  ? "needs root (network namespaces)"
  : !onPath("qemu-system-x86_64")
    ? "needs qemu-system-x86_64 (apt-get install qemu-system-x86)"
    : !onPath("tmux")
      ? "needs tmux (apt-get install -y tmux)"
      : false;

const NS = `bgtui-${process.pid}-${randomBytes(2).toString("hex")}`;
const PANE = "tui";
const VM = "tuie2e";
let sb: Sandbox;
let guest: TestGuest;

/** A tmux server of our own, its socket in the sandbox, so no other session is touched. */
function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-S", path.join(sb.dir, "tmux.sock"), ...args], { encoding: "utf8" });
}

function screen(): string {
  return tmux("capture-pane", "-p", "-t", PANE);
}

/** Wait until the screen matches; fail with what the screen shows. */
async function waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
  let last = "";
  const matches = () => {
    last = screen();
    return re.test(last) ? last : undefined;
  };
  const onTimeout = () =>
    new Error(`the screen never matched ${re} within ${timeoutMs} ms; it shows:\n${last}`);
  return waitUntil(matches, { timeoutMs, intervalMs: 100, what: `the screen to match ${re}`, onTimeout });
}

/** Press keys one at a time (tmux key names: Enter, Escape, Tab...). */
async function press(...keys: string[]): Promise<void> {
  for (const k of keys) {
    tmux("send-keys", "-t", PANE, k);
    await new Promise((r) => setTimeout(r, 80));
  }
}

async function type(text: string): Promise<void> {
  tmux("send-keys", "-t", PANE, "-l", text);
  await new Promise((r) => setTimeout(r, 80));
}

/** Every process whose command line mentions the sandbox dir (daemon, QEMU). */
function sandboxProcesses(): number[] {
  const out: number[] = [];
  for (const n of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${n}/cmdline`, "utf8").includes(sb.dir)) out.push(Number(n));
    } catch {
      /* gone */
    }
  }
  return out.filter((p) => p !== process.pid);
}

/** The TUI command the pane runs: in the namespace, with only the sandbox's environment. */
function tuiCommand(): string {
  const env = Object.entries({ ...sb.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${v}`);
  const argv = [
    "ip",
    "netns",
    "exec",
    NS,
    "env",
    "-i",
    ...env,
    process.execPath,
    path.join(repoRoot(), "bin", "banger"),
    "tui",
  ];
  // keep the pane after the TUI exits, to read how it ended
  return `${shellQuote(argv)}; echo "tui exited with $?"; sleep 600`;
}

async function waitSsh(timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await sb.cli(["vm", "ssh", VM, "--", "true"])).code === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no SSH to ${VM} within ${timeoutMs} ms`);
}

describe("banger tui drives a real daemon: create, ssh, survive a restart, delete, quit", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    await runner.run(["ip", "netns", "add", NS]);
    await runner.run(["ip", "-n", NS, "link", "set", "lo", "up"]);
    sb = new Sandbox();
    sb.wrap = ["ip", "netns", "exec", NS];
    sb.writeConfig(
      ['vmm = "qemu"', "[vm_defaults]", "vcpu = 1", 'memory = "512M"', 'disk_size = "1G"', ""].join("\n"),
    );
    const r = await sb.cli(registerArgs("tiny", guest));
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    if (!sb) return;
    try {
      tmux("kill-server");
    } catch {
      /* not started, or already gone */
    }
    await sb.cli(["daemon", "stop"]).catch(() => undefined);
    for (const pid of sandboxProcesses()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitDead(pid);
    }
    await runner.run(["ip", "netns", "del", NS], { allowFailure: true });
    await sb.cleanup();
  });

  test("it starts on an empty list that says what to do", async () => {
    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", PANE, tuiCommand());
    const s = await waitFor(/No VMs yet/);
    assert.match(s, /\[1 VMs\]/);
    assert.match(s, /Press c to create one/);
    assert.match(s, /c create {2}S start {2}x stop/);
    const styled = tmux("capture-pane", "-p", "-e", "-t", PANE);
    assert.doesNotMatch(styled, /\u001b\[[0-9;]*m/, "NO_COLOR is set: no colour or other styling");
  });

  test("the images and kernels tabs list local objects and the catalog", async () => {
    await press("2");
    const images = await waitFor(/^> tiny +local /m);
    assert.match(images, /\[2 Images\]/);
    assert.match(images, /p pull {2}d delete/);
    await press("3");
    await waitFor(/\[3 Kernels\]/);
    await press("1");
    await waitFor(/No VMs yet/);
  });

  test("the create form makes a VM that appears running", async () => {
    await press("c");
    await waitFor(/Create a VM/);
    const form = await waitFor(/Image +< tiny >/);
    assert.match(form, /Memory .*empty: default \(512M\)/, "defaults from the daemon's doctor report");
    await type(VM);
    await waitFor(new RegExp(`\\[${VM}▏`));
    await press("Enter");
    const s = await waitFor(new RegExp(`^> ${VM} +running +tiny +1 +512M +172\\.`, "m"), 120_000);
    assert.match(s, new RegExp(`created ${VM}`));
  });

  test("ssh steps aside, runs in the terminal, and comes back with a note", async () => {
    await waitSsh();
    await press("e");
    await waitFor(/~ #\s*$/m);
    await type("echo tui-$((6*7))");
    await press("Enter");
    await waitFor(/^tui-42$/m);
    await type("exit");
    await press("Enter");
    const s = await waitFor(new RegExp(`${VM} still running \\(up [0-9ms]+\\) — x to stop`));
    assert.match(s, /\[1 VMs\]/, "the TUI is back");
  });

  test("a daemon killed under it: the TUI reconnects and shows the adopted VM", async () => {
    const pid = sb.daemonPid();
    assert.ok(pid);
    process.kill(pid, "SIGKILL");
    assert.ok(await waitDead(pid));
    const s = await waitFor(/reconnected to the daemon/, 60_000);
    assert.match(s, new RegExp(`^> ${VM} +running`, "m"));
    assert.notEqual(sb.daemonPid(), pid, "a new daemon answers");
  });

  test("delete asks for confirmation, then the VM disappears", async () => {
    await press("d");
    await waitFor(new RegExp(`Delete VM ${VM}\\? It is running`));
    await press("n");
    await waitFor(new RegExp(`kept ${VM}`));
    await press("d");
    await waitFor(/y: delete/);
    await press("y");
    // The vm-deleted event comes before vm.delete's answer (on the same connection), so the list
    // empties a moment before the status says "deleted": wait for the status, then check the list.
    const s = await waitFor(new RegExp(`deleted ${VM}`), 60_000);
    assert.match(s, /No VMs yet/);
    assert.doesNotMatch(s, new RegExp(`> ${VM}`));
  });

  test("q quits cleanly", async () => {
    await press("q");
    await waitFor(/tui exited with 0/);
  });
});
