/**
 * Request rules of Firecracker that the swagger file does not express
 * (src/vmm/src/rpc_interface.rs, src/firecracker/src/api_server, summarised in
 * ../shared/firecracker/NOTES.md sections 1 and 2).
 */

/** Pre-boot only: after InstanceStart they answer 400. Actions are keyed `action <type>`. */
export const PRE_BOOT_ONLY: ReadonlySet<string> = new Set([
  "PUT /boot-source",
  "PUT /machine-config",
  "PATCH /machine-config",
  "PUT /cpu-config",
  "PUT /logger",
  "PUT /metrics",
  "PUT /serial",
  "PUT /vsock",
  "PUT /balloon",
  "PUT /mmds/config",
  "PUT /entropy",
  "PUT /hotplug/memory",
  "PUT /snapshot/load",
  "action InstanceStart",
]);

/**
 * Requests that configure a boot-specific resource: after any of them (even a
 * failed one) PUT /snapshot/load is refused; only the logger, metrics and
 * serial may come before a load (rpc_interface.rs `boot_path`).
 */
export const BOOT_SPECIFIC: ReadonlySet<string> = new Set([
  "PUT /boot-source",
  "PUT /machine-config",
  "PATCH /machine-config",
  "PUT /drives/{drive_id}",
  "PUT /network-interfaces/{iface_id}",
  "PUT /pmem/{id}",
  "PUT /balloon",
  "PUT /mmds/config",
  "PUT /vsock",
  "PUT /entropy",
  "PUT /hotplug/memory",
]);

export const LOAD_NOT_ALLOWED =
  "Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.";

/** Post-boot only: before InstanceStart they answer 400. */
export const POST_BOOT_ONLY: ReadonlySet<string> = new Set([
  "PATCH /drives/{drive_id}",
  "PATCH /network-interfaces/{iface_id}",
  "PATCH /pmem/{id}",
  "PATCH /balloon",
  "PATCH /balloon/statistics",
  "PATCH /vm",
  "PUT /snapshot/create",
  "action FlushMetrics",
  "action SendCtrlAltDel",
]);

/** After boot these PUTs are hotplug, which needs --enable-pci (never passed by banger). */
export const HOTPLUG_AFTER_BOOT: ReadonlySet<string> = new Set([
  "PUT /drives/{drive_id}",
  "PUT /network-interfaces/{iface_id}",
  "PUT /pmem/{id}",
]);

export const AFTER_START = "The requested operation is not supported after starting the microVM.";
export const BEFORE_START = "The requested operation is not supported before starting the microVM.";

/** The rule key of a request: `METHOD /template`, or `action <type>` for PUT /actions. */
export function ruleKey(method: string, template: string, body: unknown): string {
  if (method === "PUT" && template === "/actions") {
    return `action ${(body as { action_type?: string } | undefined)?.action_type}`;
  }
  return `${method} ${template}`;
}

/** The 400 message for a request not allowed in this state, or null. */
export function lifecycleError(key: string, started: boolean): string | null {
  if (started && PRE_BOOT_ONLY.has(key)) return AFTER_START;
  if (!started && POST_BOOT_ONLY.has(key)) return BEFORE_START;
  if (started && HOTPLUG_AFTER_BOOT.has(key)) {
    return "Device hotplug after boot needs --enable-pci (the fake does not emulate hotplug).";
  }
  return null;
}

/** Path ids: ASCII letters, digits and `_`. */
export const PATH_ID = /^[A-Za-z0-9_]+$/;

/** Which body field must equal which path parameter. */
const ID_FIELD: Readonly<Record<string, string>> = { drive_id: "drive_id", iface_id: "iface_id", id: "id" };

/** Problems with the path ids of a request (charset, equal to the body's id field). */
export function pathIdErrors(params: Record<string, string>, body: unknown): string[] {
  const errors: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (!PATH_ID.test(value)) {
      errors.push(`Invalid ${name} "${value}": only ASCII letters, digits and "_" are allowed.`);
      continue;
    }
    const field = ID_FIELD[name];
    const inBody =
      field && body && typeof body === "object" ? (body as Record<string, unknown>)[field] : undefined;
    if (field && inBody !== undefined && inBody !== value) {
      errors.push(`The id from the path [${value}] does not match the id from the body [${String(inBody)}]!`);
    }
  }
  return errors;
}

/** MAC address as Firecracker parses it: six hex pairs separated by ':'. */
export const MAC = /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/;

export const MAX_PAYLOAD_BYTES = 51200;
export const MAX_BOOT_ARGS_BYTES = 2048;
