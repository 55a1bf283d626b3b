import type { HostProbe } from "../probe.js";
import type { RunResult } from "../runner.js";

export interface FakeHostSpec {
  /** Executables found by which(): name -> path. */
  bins?: Record<string, string>;
  /** Paths that exist (and are accessible with any mode unless listed in `denied`). */
  files?: Record<string, string>;
  denied?: string[];
  /** Answers for run(): argv joined with spaces -> result. */
  runs?: Record<string, Partial<RunResult>>;
  freeBytes?: number | null;
  writeError?: string | null;
  uid?: number;
  nodeVersion?: string;
  env?: Record<string, string>;
}

/** Test double of the host probe: everything comes from the spec; records run() calls. */
export class FakeHostProbe implements HostProbe {
  readonly ran: string[][] = [];
  readonly uid: number;
  readonly nodeVersion: string;
  readonly env: Record<string, string>;

  constructor(private readonly spec: FakeHostSpec = {}) {
    this.uid = spec.uid ?? 1000;
    this.nodeVersion = spec.nodeVersion ?? "20.20.0";
    this.env = spec.env ?? {};
  }

  async which(bin: string): Promise<string | null> {
    if (bin.includes("/")) return Object.values(this.spec.bins ?? {}).includes(bin) ? bin : null;
    return this.spec.bins?.[bin] ?? null;
  }

  async access(p: string): Promise<boolean> {
    return p in (this.spec.files ?? {}) && !(this.spec.denied ?? []).includes(p);
  }

  async exists(p: string): Promise<boolean> {
    return p in (this.spec.files ?? {});
  }

  async readText(p: string): Promise<string | null> {
    return this.spec.files?.[p] ?? null;
  }

  async run(argv: readonly string[]): Promise<RunResult | null> {
    this.ran.push([...argv]);
    const r = this.spec.runs?.[argv.join(" ")];
    if (!r) return null;
    return { argv: [...argv], code: r.code ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  async freeBytes(): Promise<number | null> {
    return this.spec.freeBytes === undefined ? 100 * 1024 ** 3 : this.spec.freeBytes;
  }

  async tryWrite(): Promise<string | null> {
    return this.spec.writeError ?? null;
  }
}
