/**
 * Snapshots in the fake Firecracker, with the real files and rules
 * (src/vmm/src/persist.rs and rpc_interface.rs of v1.16.1):
 *
 * - create: snapshot_path is created or truncated and gets a small JSON state
 *   (machine, drives, NICs, vsock, as the API was given them); mem_file_path
 *   is opened without truncation and set to exactly the memory size (sparse),
 *   with a header line the load reads back.
 * - load: the state file must be one the fake wrote; network_overrides must
 *   name saved interfaces, vsock_override needs a saved vsock; the memory
 *   file must exist and be at least the saved memory size; the saved drives
 *   are opened again at their saved paths. Any failure is fatal (the real
 *   process exits).
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from "node:fs";

type Body = Record<string, unknown>;

export const FAKE_STATE_FORMAT = "banger-fake-firecracker-snapshot-1";
const MIB = 1024 * 1024;

/** What the fake saves in snapshot_path. */
export interface FakeSavedState {
  format: typeof FAKE_STATE_FORMAT;
  id: string;
  machine: Body;
  drives: Body[];
  nets: Body[];
  vsock: Body | null;
}

const errno = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  const codes: Record<string, string> = {
    ENOENT: "No such file or directory (os error 2)",
    EACCES: "Permission denied (os error 13)",
    EISDIR: "Is a directory (os error 21)",
  };
  return codes[err.code ?? ""] ?? err.message;
};

/** Write both files; a fault message or null. */
export function writeSnapshot(
  state: FakeSavedState,
  body: Body,
  hostPath: (p: string) => string,
): string | null {
  if (body.snapshot_type === "Diff") return "The fake implements Full snapshots only.";
  try {
    writeFileSync(hostPath(String(body.snapshot_path)), JSON.stringify(state));
  } catch (e) {
    return `Cannot perform open on the snapshot backing file: ${errno(e)}`;
  }
  let fd: number;
  try {
    fd = openSync(hostPath(String(body.mem_file_path)), "a+"); // create, never truncate
  } catch (e) {
    return `Cannot perform open on the memory backing file: ${errno(e)}`;
  }
  try {
    const size = Number(state.machine.mem_size_mib) * MIB;
    if (fstatSync(fd).size !== size) ftruncateSync(fd, size);
    closeSync(fd);
    // the guest memory's first bytes: which VM it was (read back by a load)
    const w = openSync(hostPath(String(body.mem_file_path)), "r+");
    writeSync(w, `fake-guest-memory ${state.id}\n`, 0);
    closeSync(w);
  } catch (e) {
    return `Cannot dump memory: ${errno(e)}`;
  }
  return null;
}

const LOAD = "Load snapshot error: Failed to restore from snapshot: ";

function readState(file: string): FakeSavedState | string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return `${LOAD}Failed to get snapshot state from file: Failed to open snapshot file: ${errno(e)}`;
  }
  try {
    const state = JSON.parse(text) as FakeSavedState;
    if (state.format === FAKE_STATE_FORMAT) return state;
  } catch {
    /* below */
  }
  return `${LOAD}Failed to get snapshot state from file: Failed to load snapshot state from file: not a snapshot state file`;
}

/** The first line of a memory file the fake wrote ("fake-guest-memory <id>"), or an error. */
function readMemory(file: string, memMib: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    return `${LOAD}Failed to load guest memory: Error creating guest memory from file: Failed to load guest memory: ${errno(e)}`;
  }
  try {
    if (fstatSync(fd).size < memMib * MIB) {
      return `${LOAD}Failed to load guest memory: Error creating guest memory from file: Failed to restore guest memory: Total sum of memory regions exceeds largest possible file offset`;
    }
    const head = Buffer.alloc(128);
    readSync(fd, head, 0, head.length, 0);
    return head.toString("utf8").split("\n")[0] ?? "";
  } finally {
    closeSync(fd);
  }
}

/**
 * Load `body` (already validated against the description): the restored
 * state with the overrides applied and the memory header, or a fatal fault.
 */
export function readSnapshot(
  body: Body,
  hostPath: (p: string) => string,
  /** Open a saved drive again as the VMM does (a fault message or null). */
  openDrive: (d: Body) => string | null,
): { state: FakeSavedState; memory: string } | { fatal: string } {
  const backend = body.mem_backend as Body | undefined;
  if (!backend) return { fatal: "Exactly one of mem_backend or mem_file_path must be given." };
  if (backend.backend_type !== "File") return { fatal: "The fake implements the File memory backend only." };
  const state = readState(hostPath(String(body.snapshot_path)));
  if (typeof state === "string") return { fatal: state };
  for (const o of (body.network_overrides ?? []) as Body[]) {
    const net = state.nets.find((n) => n.iface_id === o.iface_id);
    if (!net) return { fatal: `${LOAD}Failed to get snapshot state from file: Unknown Network Device.` };
    net.host_dev_name = o.host_dev_name;
  }
  const vsockOverride = body.vsock_override as Body | undefined;
  if (vsockOverride) {
    if (!state.vsock)
      return { fatal: `${LOAD}Failed to get snapshot state from file: Unknown Vsock Device.` };
    state.vsock = { ...state.vsock, uds_path: vsockOverride.uds_path };
  }
  const memory = readMemory(hostPath(String(backend.backend_path)), Number(state.machine.mem_size_mib));
  if (memory.startsWith(LOAD)) return { fatal: memory };
  for (const d of state.drives) {
    const fault = openDrive(d);
    if (fault)
      return { fatal: `${LOAD}Failed to build microVM from snapshot: block device ${d.drive_id}: ${fault}` };
  }
  return { state, memory };
}
