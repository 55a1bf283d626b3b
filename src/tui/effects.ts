/**
 * Everything the TUI does outside its reducer: the daemon connection (with
 * reconnect and backoff), the `events.watch` subscription (or a 2 s poll of
 * vm.list when the daemon lacks it), loading lists, running the requests the
 * reducer queues, log streams, and SSH. Results come back as actions.
 */
import type { MethodName, ParamsOf, ResultOf } from "../api/methods.js";
import type { ChangeEvent, RpcEvent } from "../api/protocol.js";
import type { SshInfo } from "../api/vms.js";
import type { Paths } from "../config/paths.js";
import { ErrorCodes, toBangerError } from "../errors/index.js";
import { Coalesced } from "./coalesced.js";
import { parseDefaults } from "./form.js";
import { callOp, codeOf, errorInfo, pressEnter, type RpcLike } from "./rpc.js";
import type { Action, Artifact, Request } from "./types.js";

export type { RpcLike } from "./rpc.js";

export interface SessionDeps {
  /** Connect to (starting or replacing as needed) the daemon: ensureDaemon. */
  ensure(paths: Paths): Promise<{ client: RpcLike }>;
  /** A second connection, for a stream that ends when it is closed (logs). */
  connect(socket: string): Promise<RpcLike>;
  /** Run the system ssh with this terminal, as `banger vm ssh` does; resolves with its exit code. */
  ssh(info: SshInfo): Promise<number>;
}

export interface SessionOptions {
  now?: () => number;
  /** vm.list poll period when the daemon has no events.watch (default 2 s). */
  pollMs?: number;
  /** Delay before reconnect attempt n (default backoffMs). */
  backoff?: (attempt: number) => number;
}

export const POLL_MS = 2000;
const SLOW_TICK_MS = 5000;
const HEALTH_EVERY_MS = 10_000;

/** Reconnect delays: 0.5 s, 1 s, 2 s, 4 s, 8 s, then every 10 s. */
export function backoffMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** attempt);
}

export class Session {
  private client: RpcLike | null = null;
  private generation = 0;
  private attempt = 0;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly logs = new Map<number, RpcLike>();
  private readonly unsupported = new Set<string>();
  private readonly healthAt = new Map<string, number>();
  private running: string[] = [];
  private lastStatsEvent = 0;
  private haveDefaults = false;
  private readonly vmsRefresh = new Coalesced(() => this.loadVms());
  private readonly statsRefresh = new Coalesced(() => this.loadStats());
  private readonly imagesRefresh = new Coalesced(() => this.loadArtifacts("image"));
  private readonly kernelsRefresh = new Coalesced(() => this.loadArtifacts("kernel"));

  constructor(
    private readonly paths: Paths,
    private readonly dispatch: (a: Action) => void,
    private readonly deps: SessionDeps,
    private readonly opts: SessionOptions = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    void this.connect();
  }

  /** Close every connection and timer (quit). */
  stop(): void {
    this.stopped = true;
    this.generation++;
    this.clearTimers();
    clearTimeout(this.retryTimer);
    this.client?.close();
    this.client = null;
    for (const c of this.logs.values()) c.close();
    this.logs.clear();
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.dispatch({ type: "conn-connecting", attempt: this.attempt });
    let client: RpcLike;
    try {
      client = (await this.deps.ensure(this.paths)).client;
    } catch (e) {
      this.lost(gen, e);
      return;
    }
    if (gen !== this.generation) {
      client.close();
      return;
    }
    this.client = client;
    try {
      await this.subscribe(client, gen);
    } catch (e) {
      this.lost(gen, e);
    }
  }

  /** Watch for changes, load everything, then say we are up (events, or polling as a fallback). */
  private async subscribe(client: RpcLike, gen: number): Promise<void> {
    let watchError: unknown = null;
    client.call("events.watch", {}, { onEvent: (e) => this.onEvent(e) }).then(
      () => this.lost(gen, new Error("the daemon ended the event stream")),
      (e) => {
        watchError = e;
        if (codeOf(e) !== ErrorCodes.UNKNOWN_METHOD) this.lost(gen, e);
      },
    );
    // the daemon answers an unknown method at once, so by the time vm.list is back we know
    await this.loadVms();
    if (gen !== this.generation) return;
    const polling = watchError !== null && codeOf(watchError) === ErrorCodes.UNKNOWN_METHOD;
    this.attempt = 0;
    // a daemon of another build may know more methods
    this.unsupported.clear();
    this.dispatch({ type: "conn-up", watch: polling ? "polling" : "events" });
    this.clearTimers();
    if (polling) this.timers.push(setInterval(() => this.poll(gen), this.opts.pollMs ?? POLL_MS));
    this.timers.push(setInterval(() => this.slowTick(), SLOW_TICK_MS));
    this.statsRefresh.trigger();
    this.imagesRefresh.trigger();
    this.kernelsRefresh.trigger();
    if (!this.haveDefaults) void this.loadDefaults();
  }

  /** Connection lost: drop the client, tell the reducer, retry with backoff. */
  private lost(gen: number, e: unknown): void {
    if (gen !== this.generation || this.stopped) return;
    this.generation++;
    this.clearTimers();
    this.client?.close();
    this.client = null;
    const retryInMs = (this.opts.backoff ?? backoffMs)(this.attempt);
    this.attempt++;
    this.dispatch({ type: "conn-down", reason: errorInfo(e).message, attempt: this.attempt, retryInMs });
    this.retryTimer = setTimeout(() => void this.connect(), retryInMs);
  }

  /** A failed call: connection errors start a reconnect; UNKNOWN_METHOD marks a feature absent. */
  private failed(method: string, e: unknown): boolean {
    const code = codeOf(e);
    if (code === ErrorCodes.DAEMON_UNAVAILABLE) this.lost(this.generation, e);
    if (code === ErrorCodes.UNKNOWN_METHOD && !this.unsupported.has(method)) {
      this.unsupported.add(method);
      this.dispatch({ type: "unsupported", method });
    }
    return code === ErrorCodes.UNKNOWN_METHOD || code === ErrorCodes.DAEMON_UNAVAILABLE;
  }

  private async rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M> | null> {
    const c = this.client;
    if (!c || this.unsupported.has(method)) return null;
    try {
      return await c.call(method, params);
    } catch (e) {
      if (!this.failed(method, e)) this.dispatch({ type: "error", error: errorInfo(e) });
      return null;
    }
  }

  private onEvent(e: RpcEvent): void {
    if (e.kind !== "change") return;
    this.onChange(e);
  }

  onChange(e: ChangeEvent): void {
    // images list the VMs that use them
    if (e.topic === "vm" || e.topic === "vm-deleted") this.imagesRefresh.trigger();
    if (e.topic === "vm") void this.loadVm(e.name);
    else if (e.topic === "vm-deleted") {
      this.running = this.running.filter((n) => n !== e.name);
      this.dispatch({ type: "vm-removed", name: e.name });
    } else if (e.topic === "image") this.imagesRefresh.trigger();
    else if (e.topic === "kernel") this.kernelsRefresh.trigger();
    else if (e.topic === "stats") {
      this.lastStatsEvent = this.now();
      this.statsRefresh.trigger();
    }
  }

  private async loadVm(name: string): Promise<void> {
    const c = this.client;
    if (!c) return;
    try {
      const vm = await c.call("vm.show", { name });
      this.dispatch({ type: "vm-upsert", vm });
      this.running = this.running.filter((n) => n !== vm.name);
      if (vm.state === "running") {
        this.running.push(vm.name);
        this.healthAt.delete(vm.name);
      }
    } catch (e) {
      if (codeOf(e) === ErrorCodes.NOT_FOUND) {
        this.running = this.running.filter((n) => n !== name);
        this.dispatch({ type: "vm-removed", name });
      } else this.failed("vm.show", e);
    }
  }

  private async loadVms(): Promise<void> {
    const r = await this.rpc("vm.list", {});
    if (!r) return;
    this.running = r.vms.filter((v) => v.state === "running").map((v) => v.name);
    this.dispatch({ type: "vms-loaded", vms: r.vms, problems: r.problems });
  }

  private async loadStats(): Promise<void> {
    const r = await this.rpc("vm.stats", {});
    if (r) this.dispatch({ type: "stats-loaded", stats: r.stats });
  }

  private async loadArtifacts(what: Artifact): Promise<void> {
    if (what === "image") {
      const l = await this.rpc("image.list", {});
      if (l) this.dispatch({ type: "images-loaded", images: l.images });
    } else {
      const l = await this.rpc("kernel.list", {});
      if (l) this.dispatch({ type: "kernels-loaded", kernels: l.kernels });
    }
    const a = await this.rpc(what === "image" ? "image.available" : "kernel.available", {});
    if (a) this.dispatch({ type: "catalog-loaded", what, entries: a.entries });
  }

  private async loadDefaults(): Promise<void> {
    const r = await this.rpc("doctor", {});
    const check = r?.checks.find((c) => c.id === "vm-defaults");
    if (!check) return;
    this.haveDefaults = true;
    this.dispatch({ type: "defaults", defaults: parseDefaults(check.detail) });
  }

  /** Fallback for daemons without events.watch: the list every POLL_MS. */
  private poll(gen: number): void {
    if (gen !== this.generation) return;
    this.vmsRefresh.trigger();
    this.statsRefresh.trigger();
  }

  /** Health has no change topic: ask running VMs now and then; stats too when no stats events come. */
  private slowTick(): void {
    const t = this.now();
    if (t - this.lastStatsEvent > 2 * SLOW_TICK_MS) this.statsRefresh.trigger();
    for (const name of this.running) {
      if (t - (this.healthAt.get(name) ?? 0) < HEALTH_EVERY_MS) continue;
      this.healthAt.set(name, t);
      void this.rpc("vm.health", { name }).then(
        (report) => report && this.dispatch({ type: "health", report }),
      );
    }
  }

  /** Run one request the reducer queued (ssh and quit belong to the app). */
  run(req: Request): void {
    if (req.kind === "logs-open") void this.openLogs(req);
    else if (req.kind === "logs-close") this.closeLogs(req.streamId);
    else if (req.kind !== "ssh" && req.kind !== "quit") void this.runOp(req);
  }

  private async runOp(req: Request): Promise<void> {
    const c = this.client;
    const onEvent = (event: RpcEvent) =>
      event.kind === "progress" && this.dispatch({ type: "op-progress", id: req.id, event });
    try {
      if (!c) throw toBangerError(new Error("not connected to the daemon"), ErrorCodes.DAEMON_UNAVAILABLE);
      const vm = await callOp(c, req, onEvent);
      this.dispatch(vm ? { type: "op-done", id: req.id, vm } : { type: "op-done", id: req.id });
    } catch (e) {
      this.dispatch({ type: "op-failed", id: req.id, error: errorInfo(e) });
      if (codeOf(e) === ErrorCodes.DAEMON_UNAVAILABLE) this.lost(this.generation, e);
    }
    if (req.kind === "pull" || req.kind === "artifact-delete") {
      (req.what === "image" ? this.imagesRefresh : this.kernelsRefresh).trigger();
    }
    if (req.kind === "create" && req.pull) this.imagesRefresh.trigger();
  }

  private async openLogs(req: Extract<Request, { kind: "logs-open" }>): Promise<void> {
    const end = (reason: string) => this.dispatch({ type: "log-end", streamId: req.streamId, reason });
    let c: RpcLike;
    try {
      c = await this.deps.connect(this.paths.socket);
    } catch (e) {
      end(errorInfo(e).message);
      return;
    }
    this.logs.set(req.streamId, c);
    const params = { name: req.name, source: req.source, follow: true, tailBytes: 64 * 1024 };
    const onEvent = (e: RpcEvent) =>
      e.kind === "log" && this.dispatch({ type: "log-data", streamId: req.streamId, data: e.data });
    try {
      await c.call("vm.logs", params, { onEvent });
      end("the log ended (the VM is gone)");
    } catch (e) {
      if (this.logs.has(req.streamId)) end(errorInfo(e).message);
    } finally {
      this.closeLogs(req.streamId);
    }
  }

  private closeLogs(streamId: number): void {
    const c = this.logs.get(streamId);
    this.logs.delete(streamId);
    c?.close();
  }

  /** SSH into a VM with the terminal handed over; back with the VM as it is now. */
  async ssh(name: string): Promise<Action> {
    const c = this.client;
    try {
      if (!c) throw toBangerError(new Error("not connected to the daemon"), ErrorCodes.DAEMON_UNAVAILABLE);
      const info = await c.call("vm.sshInfo", { name });
      const code = await this.deps.ssh(info);
      if (code === 255)
        await pressEnter(`ssh to ${name} failed (exit 255). Press Enter to go back to banger tui.`);
      const vm = await c.call("vm.show", { name }).catch(() => null);
      return { type: "ssh-returned", name, vm, error: null };
    } catch (e) {
      return { type: "ssh-returned", name, vm: null, error: errorInfo(e) };
    }
  }
}
