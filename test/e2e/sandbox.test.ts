/**
 * End to end, what users feel (issue "one-command sandbox"): `vm run --rm --
 * CMD` with a synced file, NAME.vm over the daemon's DNS, the guest agent
 * (health, exec exit codes, listening ports), the pinned host key, stats.
 * Real guest under QEMU (TCG here), daemon inside a network namespace this
 * test creates and deletes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { HealthReport, ListeningPort, VmStats } from "../../src/api/agent.js";
import type { VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { type CliResult, isAlive, Sandbox, waitDead } from "../helpers/sandbox.js";

const runner = new NodeCommandRunner();
const isRoot = process.getuid?.() === 0;
const hasQemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].some((p) =>
  existsSync(p),
);
const skip = !isRoot
  ? "needs root (network namespaces)"
  : !hasQemu
    ? "needs qemu-system-x86_64 (apt-get install qemu-system-x86)"
    : false;
const NS = `bgsbx-${process.pid}-${randomBytes(2).toString("hex")}`;
const SECRET = `synced-${randomBytes(4).toString("hex")}`;
let sb: Sandbox;
let guest: TestGuest;

function sandboxProcesses(): number[] {
  return readdirSync("/proc")
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((pid) => {
      try {
        return pid !== process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(sb.dir);
      } catch {
        return false;
      }
    });
}

async function ok(args: string[]): Promise<CliResult> {
  const r = await sb.cli(args);
  assert.equal(r.code, 0, `banger ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

const json = async <T>(args: string[]) => JSON.parse((await ok([...args, "--json"])).stdout) as T;
const inNs = (cmd: string, args: string[]) =>
  execFileSync("ip", ["netns", "exec", NS, cmd, ...args], { encoding: "utf8" });

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("the one-command sandbox", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    await runner.run(["ip", "netns", "add", NS]);
    await runner.run(["ip", "-n", NS, "link", "set", "lo", "up"]);
    sb = new Sandbox();
    sb.wrap = ["ip", "netns", "exec", NS];
    const hostFile = path.join(sb.dir, "secret.txt");
    writeFileSync(hostFile, `${SECRET}\n`);
    sb.writeConfig(
      [
        'vmm = "qemu"',
        'default_image_name = "tiny"',
        'stats_poll_interval = "1s"',
        "[vm_defaults]",
        "vcpu = 1",
        'memory = "512M"',
        'disk_size = "1G"',
        "[[file_sync]]",
        `host = "${hostFile}"`,
        'guest = "~/secret.txt"',
        'mode = "0640"',
        "[[file_sync]]",
        `host = "${path.join(sb.dir, "absent")}"`,
        'guest = "~/absent"',
        "",
      ].join("\n"),
    );
    await ok([
      "image",
      "register",
      "tiny",
      "--kernel",
      guest.vmlinux,
      "--initrd",
      guest.initrd,
      "--rootfs",
      guest.rootfs,
      "--work-seed",
      guest.workSeed,
    ]);
  });

  after(async () => {
    if (!sb) return;
    await sb.cli(["daemon", "stop"]).catch(() => undefined);
    for (const pid of sandboxProcesses()) {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitDead(pid);
    }
    await runner.run(["ip", "netns", "del", NS], { allowFailure: true });
    await sb.cleanup();
  });

  test("vm run --rm -- cat the synced file: its content and exit code come back, the VM is gone after", async () => {
    const r = await sb.cli([
      "vm",
      "run",
      "--rm",
      "--name",
      "once",
      "--",
      "sh",
      "-c",
      "cat /root/secret.txt; stat -c %a /root/secret.txt; exit 3",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, `${SECRET}\n640\n`);
    assert.match(
      r.stderr,
      /^spec: 1 vcpu · 512 MiB · 1G disk · image tiny$/m,
      "the spec line matches the VM",
    );
    assert.match(
      r.stderr,
      /file_sync\[1\]: .*absent does not exist; skipped/,
      "a missing host path is a warning",
    );
    const list = await json<{ vms: VmView[] }>(["vm", "list"]);
    assert.deepEqual(list.vms, [], "--rm deleted it");
  });

  test("a running VM: NAME.vm resolves, the agent answers, exec keeps exit codes, ports are seen, the host key is pinned", async () => {
    await ok(["vm", "create", "--name", "box"]);
    const vm = await json<VmView>(["vm", "show", "box"]);
    const h = await until("a healthy agent", async () => {
      const x = await json<HealthReport>(["vm", "health", "box"]);
      return x.status === "healthy" ? x : undefined;
    });
    assert.ok((h.guest?.uptimeSec ?? 0) > 0);
    assert.ok(h.guest?.disks.some((d) => d.mount === "/root"));

    const a = inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short"]);
    assert.equal(a.trim(), vm.ip);
    const tcp = inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short", "+tcp"]);
    assert.equal(tcp.trim(), vm.ip);
    assert.match(inNs("dig", ["@127.0.0.1", "-p", "42069", "nope.vm"]), /status: NXDOMAIN/);
    assert.match(inNs("dig", ["@127.0.0.1", "-p", "42069", "example.com"]), /status: REFUSED/);

    const bad = await sb.cli(["vm", "exec", "box", "--", "sh", "-c", "echo to-err >&2; exit 5"]);
    assert.equal(bad.code, 5);
    assert.equal(bad.stderr, "to-err\n");
    const good = await ok(["vm", "exec", "box", "--", "cat", "/root/secret.txt"]);
    assert.equal(good.stdout, `${SECRET}\n`);

    await ok(["vm", "exec", "box", "--", "busybox", "httpd", "-p", "8080", "-h", "/tmp"]);
    const ports = await until("port 8080", async () => {
      const p = await json<{ ports: ListeningPort[] }>(["vm", "ports", "box"]);
      return p.ports.some((x) => x.port === 8080) ? p.ports : undefined;
    });
    assert.ok(ports.some((p) => p.port === 8080 && p.url === "box.vm:8080"));
    assert.ok(ports.some((p) => p.port === 22));

    const pinned = readFileSync(path.join(sb.stateDir, "ssh", "known_hosts"), "utf8");
    const line = pinned.split("\n").find((l) => l.startsWith("box.vm "));
    assert.ok(line, pinned);
    const shown = inNs("ssh-keyscan", ["-t", "ed25519", vm.ip!]);
    assert.ok(
      shown.includes(line.split(" ").slice(1).join(" ")),
      `the guest shows the pinned key:\n${shown}\n${line}`,
    );
    const u = await ok(["vm", "ssh", "box", "--", "uname", "-n"]);
    assert.equal(u.stdout.trim(), "box");
    const cfg = await ok(["ssh-config"]);
    assert.match(cfg.stdout, /Host box\.vm\n {2}HostName 172\.30\.0\.\d+\n {2}HostKeyAlias box\.vm/);
    assert.match(cfg.stdout, /Include .*ssh_config/);

    const st = await until("a stats sample", async () => {
      const s = await json<{ stats: VmStats[] }>(["vm", "stats", "box"]);
      return s.stats[0]?.rssBytes ? s.stats[0] : undefined;
    });
    assert.ok((st.rssBytes ?? 0) > 10 * 1024 * 1024);

    await ok(["vm", "delete", "--force", "box"]);
    assert.equal(
      inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short"]).trim(),
      "",
      "the record goes with the VM",
    );
  });
});
