/**
 * The state machine of the fake Firecracker: every request is checked against
 * the API description it is given (banger's own, src/vmm/firecracker/apiSpec.ts:
 * route, body schema, path ids), the lifecycle rules and the side
 * effects the real VMM has at PUT time (files opened, vsock socket bound).
 */
import { accessSync, appendFileSync, constants, existsSync } from "node:fs";
import net from "node:net";
import type { ApiDescription as ApiSpec } from "../../src/vmm/firecracker/apiSpec.js";
import { bodyParameter, matchRoute, validate } from "../../src/vmm/firecracker/apiValidate.js";
import {
  BOOT_SPECIFIC,
  LOAD_NOT_ALLOWED,
  lifecycleError,
  MAC,
  MAX_BOOT_ARGS_BYTES,
  MAX_PAYLOAD_BYTES,
  pathIdErrors,
  ruleKey,
} from "./rules.js";
import { FAKE_STATE_FORMAT, type FakeSavedState, readSnapshot, writeSnapshot } from "./snapshot.js";

export const FAKE_VERSION = "1.16.1";

export interface FakeReply {
  status: number;
  body?: unknown;
}

export interface FakeOptions {
  id: string;
  spec: ApiSpec;
  /** Write a line to the "guest console" (stdout). */
  console: (line: string) => void;
  /** Called after SendCtrlAltDel is accepted (the guest reboots and the VMM exits). */
  onShutdown: () => void;
  /** `METHOD /path` requests that answer 400 (fault injection). */
  failOn?: ReadonlySet<string>;
  ignoreCtrlAltDel?: boolean;
  /** Where a path given in a body is on the host (inside the chroot for a jailed fake). Default: itself. */
  hostPath?: (p: string) => string;
  /** Called after a failed PUT /snapshot/load was answered: the real process exits then. */
  onFatal?: () => void;
}

type Body = Record<string, unknown>;
const bad = (fault_message: string): FakeReply => ({ status: 400, body: { fault_message } });
const OK: FakeReply = { status: 204 };

export class FakeFirecracker {
  started = false;
  /** vCPUs frozen (PATCH /vm Paused, or a load without resume_vm). */
  paused = false;
  /** A boot-specific resource was configured: PUT /snapshot/load is refused from then on. */
  bootPath = false;
  readonly configured = new Map<string, Body>();
  readonly drives = new Map<string, Body>();
  readonly nets = new Map<string, Body>();
  private machine: Body = { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false };
  private vsockServer: net.Server | null = null;

  constructor(private readonly opts: FakeOptions) {}

  /** Stop listening on the vsock socket (in-process tests). */
  close(): void {
    this.vsockServer?.close();
    this.vsockServer = null;
  }

  async handle(method: string, url: string, raw: string): Promise<FakeReply> {
    const pathOnly = url.split("?")[0] ?? url;
    if (this.opts.failOn?.has(`${method} ${pathOnly}`))
      return bad(`fault injected by FAKE_FC_FAIL_ON: ${method} ${pathOnly}`);
    if (Buffer.byteLength(raw) > MAX_PAYLOAD_BYTES) {
      return bad(
        `Request payload with size ${Buffer.byteLength(raw)} is larger than the limit of ${MAX_PAYLOAD_BYTES}.`,
      );
    }
    const route = matchRoute(this.opts.spec, method, pathOnly);
    if (!route?.operation) return bad(`Invalid request method and/or path: ${method} ${pathOnly}.`);
    let body: unknown;
    try {
      body = raw.trim() === "" ? undefined : JSON.parse(raw);
    } catch (e) {
      return bad(`Invalid body: ${(e as Error).message}`);
    }
    const param = bodyParameter(route.operation);
    if (!param && body !== undefined) return bad(`${method} ${route.template} does not take a body.`);
    if (param?.required && body === undefined) return bad(`Empty ${method} request.`);
    const errors = pathIdErrors(route.params, body);
    if (param?.schema && body !== undefined) errors.push(...validate(this.opts.spec, param.schema, body));
    if (errors.length > 0) return bad(errors.join("; "));
    const key = ruleKey(method, route.template, body);
    const lifecycle = lifecycleError(key, this.started);
    if (lifecycle) return bad(lifecycle);
    if (BOOT_SPECIFIC.has(key)) this.bootPath = true;
    if (method === "GET") return this.get(route.template);
    if (key === "PATCH /vm") return this.patchVm((body as Body).state === "Paused");
    if (key === "PUT /snapshot/create") return this.createSnapshot(body as Body);
    if (key === "PUT /snapshot/load") return this.loadSnapshot(body as Body);
    return this.apply(key, route.template, (body ?? {}) as Body);
  }

  private get(template: string): FakeReply {
    const state = this.started ? (this.paused ? "Paused" : "Running") : "Not started";
    switch (template) {
      case "/":
        return {
          status: 200,
          body: { id: this.opts.id, state, vmm_version: FAKE_VERSION, app_name: "Firecracker" },
        };
      case "/version":
        return { status: 200, body: { firecracker_version: FAKE_VERSION } };
      case "/machine-config":
        return { status: 200, body: this.machine };
      default:
        return bad(`the fake does not implement GET ${template}`);
    }
  }

  private async apply(key: string, template: string, body: Body): Promise<FakeReply> {
    const check =
      this.precheck(key, template, body) ?? (template === "/vsock" ? await this.bindVsock(body) : null);
    if (check) return bad(check);
    if (key.startsWith("action ")) return this.action(key.slice("action ".length));
    if (template === "/drives/{drive_id}") this.drives.set(String(body.drive_id), body);
    else if (template === "/network-interfaces/{iface_id}") this.nets.set(String(body.iface_id), body);
    else if (key === "PUT /machine-config") this.machine = { smt: false, track_dirty_pages: false, ...body };
    else if (key === "PATCH /machine-config") this.machine = { ...this.machine, ...body };
    this.configured.set(key, body);
    return OK;
  }

  /** Semantic checks the real VMM makes when applying a request; a fault message or null. */
  private precheck(key: string, template: string, body: Body): string | null {
    switch (key) {
      case "PUT /logger":
        if (this.configured.has(key)) return "Logger can only be configured once.";
        return body.log_path === undefined ? null : this.file("log_path", body.log_path, true);
      case "PUT /metrics":
        if (this.configured.has(key)) return "Metrics system already initialized.";
        return this.file("metrics_path", body.metrics_path, true);
      case "PUT /machine-config":
      case "PATCH /machine-config":
        return machineError({ ...this.machine, ...body });
      case "PUT /boot-source":
        return bootSourceError(body, (f, p) => this.file(f, p, false));
      case "action InstanceStart":
        return this.configured.has("PUT /boot-source")
          ? null
          : "Cannot start microvm without kernel configuration.";
    }
    if (template === "/drives/{drive_id}") return this.driveError(body);
    if (template === "/network-interfaces/{iface_id}") return this.netError(body);
    return null;
  }

  private driveError(d: Body): string | null {
    if ((d.path_on_host === undefined) === (d.socket === undefined)) {
      return "A drive needs exactly one of path_on_host (virtio-block) or socket (vhost-user).";
    }
    if (d.path_on_host !== undefined && d.is_read_only === undefined)
      return "is_read_only is required with path_on_host.";
    const otherRoot = [...this.drives.values()].find((x) => x.is_root_device && x.drive_id !== d.drive_id);
    if (d.is_root_device && otherRoot) return "A root block device already exists!";
    return d.path_on_host === undefined
      ? null
      : this.file("path_on_host", d.path_on_host, d.is_read_only !== true);
  }

  private netError(n: Body): string | null {
    if (n.guest_mac !== undefined && !MAC.test(String(n.guest_mac)))
      return `Invalid MAC address: ${n.guest_mac}`;
    for (const other of this.nets.values()) {
      if (other.iface_id === n.iface_id) continue;
      if (n.guest_mac !== undefined && other.guest_mac === n.guest_mac)
        return `The MAC address is already in use: ${n.guest_mac}`;
      if (other.host_dev_name === n.host_dev_name)
        return `Open tap device failed: Resource busy (${n.host_dev_name})`;
    }
    return null;
  }

  /** The file must exist and be readable (and writable) by this process, like the real VMM opens it. */
  private file(field: string, p: unknown, write: boolean): string | null {
    const host = (this.opts.hostPath ?? ((x: string) => x))(String(p));
    if (!existsSync(host)) return `${field} ${String(p)}: No such file or directory (os error 2)`;
    try {
      accessSync(host, write ? constants.R_OK | constants.W_OK : constants.R_OK);
    } catch {
      return `${field} ${String(p)}: Permission denied (os error 13)`;
    }
    return null;
  }

  /** Like the real VMM: bind uds_path now; it must not exist. */
  private async bindVsock(v: Body): Promise<string | null> {
    const udsPath = (this.opts.hostPath ?? ((x: string) => x))(String(v.uds_path));
    if (existsSync(udsPath)) {
      return `Cannot create backend for vsock device: Error binding to the host-side Unix socket: Address in use (os error 98) (${udsPath})`;
    }
    this.vsockServer?.close();
    const server = net.createServer((s) => s.destroy()); // no guest listener: connection closed
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(udsPath, resolve);
      });
    } catch (e) {
      return `Cannot create backend for vsock device: ${(e as Error).message}`;
    }
    this.vsockServer = server;
    return null;
  }

  private patchVm(pause: boolean): FakeReply {
    this.paused = pause;
    return OK;
  }

  private host(p: unknown): string {
    return (this.opts.hostPath ?? ((x: string) => x))(String(p));
  }

  private createSnapshot(body: Body): FakeReply {
    if (!this.paused) {
      return bad(
        "Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable while running",
      );
    }
    const vsock = this.configured.get("PUT /vsock") ?? null;
    const state: FakeSavedState = {
      format: FAKE_STATE_FORMAT,
      id: this.opts.id,
      machine: this.machine,
      drives: [...this.drives.values()],
      nets: [...this.nets.values()],
      vsock,
    };
    const fault = writeSnapshot(state, body, (p) => this.host(p));
    return fault ? bad(fault) : OK;
  }

  private async loadSnapshot(body: Body): Promise<FakeReply> {
    if (this.bootPath) return bad(LOAD_NOT_ALLOWED);
    const loaded = readSnapshot(
      body,
      (p) => this.host(p),
      (d) => this.file("path_on_host", d.path_on_host, d.is_read_only !== true),
    );
    // like the real VMM: a failed load leaves the process unusable, and it exits after answering
    const fatal = (fault: string): FakeReply => {
      setImmediate(() => this.opts.onFatal?.());
      return bad(fault);
    };
    if ("fatal" in loaded) return fatal(loaded.fatal);
    const vsockFault = loaded.state.vsock ? await this.bindVsock(loaded.state.vsock) : null;
    if (vsockFault) return fatal(vsockFault);
    const { state, memory } = loaded;
    this.machine = state.machine;
    for (const d of state.drives) this.drives.set(String(d.drive_id), d);
    for (const n of state.nets) this.nets.set(String(n.iface_id), n);
    if (state.vsock) this.configured.set("PUT /vsock", state.vsock);
    this.configured.set("PUT /snapshot/load", body);
    this.started = true;
    this.paused = body.resume_vm !== true;
    this.opts.console(`fake guest: restored (${memory}), ${this.paused ? "paused" : "running"}`);
    return OK;
  }

  private action(type: string): FakeReply {
    if (type === "InstanceStart") {
      this.started = true;
      this.opts.console("[    0.000000] Linux version 6.1.0-fake (fake-firecracker) #1 SMP");
      this.opts.console(
        `[    0.000000] Command line: ${String(this.configured.get("PUT /boot-source")?.boot_args)}`,
      );
      this.opts.console("fake guest: init started");
    } else if (type === "SendCtrlAltDel") {
      if (this.paused) return OK; // injected, but the frozen guest never reacts
      this.opts.console("fake guest: got Ctrl+Alt+Del");
      if (!this.opts.ignoreCtrlAltDel) {
        this.opts.console("reboot: Restarting system");
        this.opts.onShutdown();
      }
    } else if (type === "FlushMetrics") {
      const metrics = this.configured.get("PUT /metrics")?.metrics_path;
      if (typeof metrics === "string")
        appendFileSync(
          (this.opts.hostPath ?? ((x: string) => x))(metrics),
          `${JSON.stringify({ utc_timestamp_ms: Date.now() })}\n`,
        );
    }
    return OK;
  }
}

function machineError(m: Body): string | null {
  const vcpu = Number(m.vcpu_count);
  if (m.smt === true && vcpu > 1 && vcpu % 2 === 1)
    return "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.";
  if (m.huge_pages === "2M" && Number(m.mem_size_mib) % 2 !== 0)
    return "The memory size must be a multiple of the huge page size (2 MiB).";
  return null;
}

function bootSourceError(b: Body, mustExist: (field: string, p: unknown) => string | null): string | null {
  const args = typeof b.boot_args === "string" ? b.boot_args : "";
  if (Buffer.byteLength(args) > MAX_BOOT_ARGS_BYTES)
    return `Kernel command line is too long: ${Buffer.byteLength(args)} bytes.`;
  const kernel = mustExist("kernel_image_path", b.kernel_image_path);
  if (kernel) return `The kernel file cannot be opened: ${kernel}`;
  if (b.initrd_path !== undefined) {
    const initrd = mustExist("initrd_path", b.initrd_path);
    if (initrd) return `The initrd file cannot be opened: ${initrd}`;
  }
  return null;
}
