/** Test harness around the fake: a temp VM directory, records, and cleanup of every process started. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BootSpec } from "../../src/vmm/driver.js";
import { isProcessAlive, killAndWait } from "../../src/vmm/process.js";
import { fakeJailerScript, fakeScript, writeFakeFirecrackerBin } from "./bin.js";
import type { RecordedRequest, RecordedStart } from "./fake.js";
import type { RecordedJail } from "./jailer.js";

/** A small file that passes the driver's ELF check. */
export const FAKE_ELF = Buffer.concat([Buffer.from("\x7fELF", "latin1"), Buffer.alloc(60)]);

export class FakeVmDir {
  readonly dir: string;
  readonly record: string;
  readonly spec: BootSpec;

  constructor(opts: { net?: boolean } = {}) {
    // short path: Unix socket paths are limited to 107 bytes
    this.dir = mkdtempSync(path.join(os.tmpdir(), "bfc-"));
    this.record = path.join(this.dir, "record.jsonl");
    const vmDir = path.join(this.dir, "vm");
    const kernelPath = path.join(this.dir, "vmlinux");
    writeFileSync(kernelPath, FAKE_ELF);
    writeFileSync(path.join(this.dir, "rootfs.ext4"), Buffer.alloc(4096));
    writeFileSync(path.join(this.dir, "work.ext4"), Buffer.alloc(4096));
    this.spec = {
      id: "0123456789abcdef",
      name: "contract",
      vcpu: 2,
      memoryMib: 256,
      kernelPath,
      initrdPath: null,
      kernelArgs: "ip=172.30.0.2::172.30.0.1:255.255.255.0::eth0:off banger.vm=contract",
      drives: [
        { id: "rootfs", path: path.join(this.dir, "rootfs.ext4"), readOnly: false, isRoot: true },
        { id: "work", path: path.join(this.dir, "work.ext4"), readOnly: false, isRoot: false },
      ],
      net: opts.net === false ? null : { tap: "tap-bg0", mac: "06:00:ac:1e:00:02" },
      cid: 3,
      vmDir,
      consoleLog: path.join(vmDir, "console.log"),
      vmmLog: path.join(vmDir, "firecracker.log"),
      memoryFile: path.join(vmDir, "memory.raw"),
    };
  }

  /** A firecracker executable running the fake with these FAKE_FC_* variables (records to this.record). */
  bin(env: Record<string, string> = {}, name = "firecracker"): string {
    return writeFakeFirecrackerBin(this.dir, { FAKE_FC_RECORD: this.record, ...env }, name);
  }

  /** A fake `jailer` beside the fake firecracker (records to this.record). */
  jailerBin(env: Record<string, string> = {}): string {
    return writeFakeFirecrackerBin(
      this.dir,
      { FAKE_FC_RECORD: this.record, ...env },
      "jailer",
      fakeJailerScript(),
    );
  }

  private lines(): Array<RecordedRequest | RecordedStart | RecordedJail> {
    if (!existsSync(this.record)) return [];
    return readFileSync(this.record, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RecordedRequest | RecordedStart | RecordedJail);
  }

  jails(): RecordedJail[] {
    return this.lines().filter((l): l is RecordedJail => l.event === "jail");
  }

  requests(): RecordedRequest[] {
    return this.lines().filter((l): l is RecordedRequest => l.event === "request");
  }

  /** Pids of every fake started for this directory. */
  pids(): number[] {
    return this.lines()
      .filter((l): l is RecordedStart => l.event === "start")
      .map((l) => l.pid);
  }

  /** `METHOD /path` of each request, with repeated readiness probes collapsed. */
  sequence(): string[] {
    const out: string[] = [];
    for (const r of this.requests()) {
      const s = `${r.method} ${r.path}`;
      if (!(s === "GET /" && out[out.length - 1] === s)) out.push(s);
    }
    return out;
  }

  /** Fakes of this directory still alive. */
  alive(): number[] {
    return this.pids().filter((pid) => isProcessAlive(pid, fakeScript()));
  }

  /** Kill whatever is left (by pid, only if it is our fake) and remove the directory. */
  async cleanup(): Promise<void> {
    for (const pid of this.pids()) await killAndWait(pid, { expectArg: fakeScript() }).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
