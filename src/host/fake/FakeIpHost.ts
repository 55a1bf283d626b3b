import type { RunResult } from "../runner.js";
import { FakeCommandRunner } from "./FakeCommandRunner.js";

export interface FakeLink {
  kind: string;
  up: boolean;
  master?: string;
  ipv4: string[];
  /** tun owner uid. */
  user?: number;
  /** ifalias (banger's marker). */
  alias?: string;
  isolated?: boolean;
}

/**
 * Test double: a small model of a host's links behind a FakeCommandRunner.
 * The `ip` and `bridge` commands banger's helper runs change it, `ip -j`
 * reads report it (links, tun owners, aliases, addresses and their routes).
 */
export class FakeIpHost {
  readonly runner = new FakeCommandRunner();
  readonly links = new Map<string, FakeLink>();
  /** Extra routes `ip -j -4 route show table all` reports, e.g. { dst: "10.0.0.0/8", dev: "eth0" }. */
  readonly routes: Array<{ dst: string; dev: string }> = [];
  private readonly injected: Array<[string[], () => Partial<RunResult> | undefined]> = [];

  /** Answer commands starting with `prefix` before the model does (undefined: let the model answer). */
  fail(prefix: string[], answer: () => Partial<RunResult> | undefined): void {
    this.injected.push([prefix, answer]);
  }

  constructor() {
    const r = this.runner;
    const missing = (dev: string) => ({ code: 1, stderr: `Cannot find device "${dev}"` });
    r.on([], (a) => {
      for (const [prefix, answer] of this.injected) if (prefix.every((p, i) => a[i] === p)) return answer();
      return undefined;
    });
    r.on(["ip", "-j", "-d", "addr", "show"], () => ({ stdout: this.json([...this.links]) }));
    r.on(["ip", "-j", "-4", "addr", "show"], (a) => this.showOne(a[6]));
    r.on(["ip", "-j", "-d", "link", "show", "dev"], (a) => this.showOne(a[6]));
    r.on(["ip", "-j", "-4", "route", "show", "table", "all"], () => ({
      stdout: JSON.stringify(this.routeList()),
    }));
    r.on(["ip", "-j", "tuntap", "show"], () => ({
      stdout: JSON.stringify(
        [...this.links].filter(([, l]) => l.kind === "tun").map(([n, l]) => ({ ifname: n, user: l.user })),
      ),
    }));
    r.on(["ip", "link", "add", "name"], (a) => {
      if (this.links.has(a[4]!)) return { code: 2, stderr: "RTNETLINK answers: File exists" };
      this.links.set(a[4]!, { kind: a[6]!, up: false, ipv4: [] });
      return {};
    });
    r.on(["ip", "addr", "replace"], (a) => void this.links.get(a[5]!)?.ipv4.push(a[3]!));
    r.on(["ip", "addr", "del"], (a) => {
      const l = this.links.get(a[5]!);
      if (l) l.ipv4 = l.ipv4.filter((x) => x !== a[3]);
      return {};
    });
    r.on(["ip", "link", "set", "dev"], (a) => {
      const l = this.links.get(a[4]!);
      if (!l) return missing(a[4]!);
      for (let i = 5; i < a.length; i++) {
        if (a[i] === "up") l.up = true;
        else if (a[i] === "alias") l.alias = a[++i]!;
        else if (a[i] === "master") l.master = a[++i]!;
      }
      return {};
    });
    r.on(["bridge", "link", "set", "dev"], (a) => {
      const l = this.links.get(a[4]!);
      if (!l) return missing(a[4]!);
      l.isolated = a[6] === "on";
      return {};
    });
    r.on(["ip", "tuntap", "add", "dev"], (a) => {
      if (this.links.has(a[4]!)) return { code: 1, stderr: "ioctl(TUNSETIFF): Device or resource busy" };
      this.links.set(a[4]!, { kind: "tun", up: false, ipv4: [], user: +a[8]! });
      return {};
    });
    r.on(["ip", "link", "delete", "dev"], (a) => (this.links.delete(a[4]!) ? {} : missing(a[4]!)));
  }

  private showOne(dev: string | undefined) {
    if (dev === undefined) return { stdout: this.json([...this.links]) };
    const l = this.links.get(dev);
    return l ? { stdout: this.json([[dev, l]]) } : { code: 1, stderr: `Device "${dev}" does not exist.` };
  }

  private routeList(): Array<{ dst: string; dev: string }> {
    const own = [...this.links].flatMap(([dev, l]) =>
      l.ipv4.map((a) => {
        const [ip, p] = a.split("/");
        const n = ip!.split(".").map(Number);
        const bits = Number(p);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const v = ((((n[0]! << 24) | (n[1]! << 16) | (n[2]! << 8) | n[3]!) >>> 0) & mask) >>> 0;
        return { dst: `${[v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".")}/${p}`, dev };
      }),
    );
    return [...own, ...this.routes];
  }

  private json(entries: Array<[string, FakeLink]>): string {
    return JSON.stringify(
      entries.map(([ifname, l]) => ({
        ifname,
        flags: l.up ? ["BROADCAST", "UP"] : ["BROADCAST"],
        ...(l.master ? { master: l.master } : {}),
        ...(l.alias ? { ifalias: l.alias } : {}),
        linkinfo: { info_kind: l.kind, info_data: l.kind === "tun" ? { type: "tap" } : {} },
        addr_info: l.ipv4.map((a) => ({
          family: "inet",
          local: a.split("/")[0],
          prefixlen: +a.split("/")[1]!,
        })),
      })),
    );
  }

  /** Calls as strings, without the reads. */
  writes(): string[] {
    return this.runner.calls.filter((c) => !c.includes("-j")).map((c) => c.join(" "));
  }

  clear(): void {
    this.runner.calls.length = 0;
  }

  taps(): string[] {
    return [...this.links].filter(([, l]) => l.kind === "tun").map(([n]) => n);
  }
}
