/**
 * End to end, what users feel (issue "one-command sandbox"): `vm run --rm --
 * CMD` with a synced file, NAME.vm over the daemon's DNS, the guest agent
 * (health, exec exit codes, listening ports), the pinned host key, stats.
 * Real guest under QEMU (TCG here), daemon inside a network namespace this
 * test creates and deletes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { HealthReport, ListeningPort, VmStats } from "../../src/api/agent.js";
import type { VmView } from "../../src/api/vms.js";
import { NodeCommandRunner } from "../../src/host/node/NodeCommandRunner.js";
import { ensureTestGuest, type TestGuest } from "../guest/testGuest.js";
import { e2eSkipReason, NsSandbox, registerArgs, until } from "../helpers/nsSandbox.js";

const runner = new NodeCommandRunner();
const skip = e2eSkipReason();
const SECRET = `synced-${randomBytes(4).toString("hex")}`;
let t: NsSandbox;
let guest: TestGuest;

describe("the one-command sandbox", { skip }, () => {
  before(async () => {
    guest = await ensureTestGuest({ runner });
    t = await NsSandbox.create("bgsbx");
    const sb = t.sb;
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
    await t.ok(registerArgs("tiny", guest));
  });

  after(async () => {
    await t?.cleanup();
  });

  test("vm run --rm -- cat the synced file: its content and exit code come back, the VM is gone after", async () => {
    const r = await t.cli([
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
    const list = await t.json<{ vms: VmView[] }>(["vm", "list"]);
    assert.deepEqual(list.vms, [], "--rm deleted it");
  });

  test("a running VM: NAME.vm resolves, the agent answers, exec keeps exit codes, ports are seen, the host key is pinned", async () => {
    await t.ok(["vm", "create", "--name", "box"]);
    const vm = await t.json<VmView>(["vm", "show", "box"]);
    const h = await until("a healthy agent", async () => {
      const x = await t.json<HealthReport>(["vm", "health", "box"]);
      return x.status === "healthy" ? x : undefined;
    });
    assert.ok((h.guest?.uptimeSec ?? 0) > 0);
    assert.ok(h.guest?.disks.some((d) => d.mount === "/root"));

    const a = t.inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short"]);
    assert.equal(a.trim(), vm.ip);
    const tcp = t.inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short", "+tcp"]);
    assert.equal(tcp.trim(), vm.ip);
    assert.match(t.inNs("dig", ["@127.0.0.1", "-p", "42069", "nope.vm"]), /status: NXDOMAIN/);
    assert.match(t.inNs("dig", ["@127.0.0.1", "-p", "42069", "example.com"]), /status: REFUSED/);

    const bad = await t.cli(["vm", "exec", "box", "--", "sh", "-c", "echo to-err >&2; exit 5"]);
    assert.equal(bad.code, 5);
    assert.equal(bad.stderr, "to-err\n");
    const good = await t.ok(["vm", "exec", "box", "--", "cat", "/root/secret.txt"]);
    assert.equal(good.stdout, `${SECRET}\n`);

    await t.ok(["vm", "exec", "box", "--", "busybox", "httpd", "-p", "8080", "-h", "/tmp"]);
    const ports = await until("port 8080", async () => {
      const p = await t.json<{ ports: ListeningPort[] }>(["vm", "ports", "box"]);
      return p.ports.some((x) => x.port === 8080) ? p.ports : undefined;
    });
    assert.ok(ports.some((p) => p.port === 8080 && p.url === "box.vm:8080"));
    assert.ok(ports.some((p) => p.port === 22));

    const pinned = readFileSync(path.join(t.sb.stateDir, "ssh", "known_hosts"), "utf8");
    const line = pinned.split("\n").find((l) => l.startsWith("box.vm "));
    assert.ok(line, pinned);
    const shown = t.inNs("ssh-keyscan", ["-t", "ed25519", vm.ip!]);
    assert.ok(
      shown.includes(line.split(" ").slice(1).join(" ")),
      `the guest shows the pinned key:\n${shown}\n${line}`,
    );
    const u = await t.ok(["vm", "ssh", "box", "--", "uname", "-n"]);
    assert.equal(u.stdout.trim(), "box");
    const cfg = await t.ok(["ssh-config"]);
    assert.match(cfg.stdout, /Host box\.vm\n {2}HostName 172\.30\.0\.\d+\n {2}HostKeyAlias box\.vm/);
    assert.match(cfg.stdout, /Include .*ssh_config/);

    const st = await until("a stats sample", async () => {
      const s = await t.json<{ stats: VmStats[] }>(["vm", "stats", "box"]);
      return s.stats[0]?.rssBytes ? s.stats[0] : undefined;
    });
    assert.ok((st.rssBytes ?? 0) > 10 * 1024 * 1024);

    await t.ok(["vm", "delete", "--force", "box"]);
    assert.equal(
      t.inNs("dig", ["@127.0.0.1", "-p", "42069", "box.vm", "+short"]).trim(),
      "",
      "the record goes with the VM",
    );
  });
});
