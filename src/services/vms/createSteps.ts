/** The named steps of `vm create`: the row and its lease, then the disks and the files on them. */
import { mkdir, rm } from "node:fs/promises";
import type { Image } from "../../model/image.js";
import type { Vm, VmDisksRecord, VmEgress, VmSpec } from "../../model/vm.js";
import type { Step } from "../../vmm/steps.js";
import { macFromId } from "../network/NetworkManager.js";
import type { Progress, VmServiceDeps } from "./deps.js";
import { planFileSync } from "./fileSync.js";

export interface CreateCtx {
  vm: Vm;
  disks: VmDisksRecord | null;
  /** Cleanups of a failed create that failed themselves (the row stays to say so). */
  leftovers: string[];
}

/** What the steps need from VmService. */
export interface CreateHost {
  deps: VmServiceDeps;
  insertRow(
    name: string | undefined,
    base: Pick<Vm, "id" | "imageId" | "spec" | "vmDir" | "egress" | "pool" | "autoSuspendMs">,
  ): Vm;
  dropFailedRow(id: string, leftovers: string[]): void;
  writeAuthorizedKey(vm: Vm): Promise<void>;
}

export interface CreatePlan {
  id: string;
  vmDir: string;
  name: string | undefined;
  image: Image;
  spec: VmSpec;
  egress: VmEgress | undefined;
  /** A warm-pool member's key (pool.ts). */
  pool?: string;
  /** Its own idle timeout (scaleToZero.ts). */
  autoSuspendMs?: number;
}

export function createSteps(h: CreateHost, plan: CreatePlan, progress: Progress): Step<CreateCtx>[] {
  return [...rowSteps(h, plan), ...diskSteps(h, plan, progress)];
}

function rowSteps(h: CreateHost, plan: CreatePlan): Step<CreateCtx>[] {
  const { store, network } = h.deps;
  const { id } = plan;
  return [
    {
      name: "record",
      run: async (c, cleanup) => {
        const { image, spec, vmDir, egress } = plan;
        const extra = {
          ...(egress ? { egress } : {}),
          ...(plan.pool ? { pool: plan.pool } : {}),
          ...(plan.autoSuspendMs !== undefined ? { autoSuspendMs: plan.autoSuspendMs } : {}),
        };
        c.vm = h.insertRow(plan.name, { id, imageId: image.id, spec, vmDir, ...extra });
        cleanup(() => h.dropFailedRow(id, c.leftovers));
      },
    },
    {
      name: "lease",
      run: async (c, cleanup) => {
        const ip = store.allocateLease(id, network.subnet.guestAddresses(), { subnet: network.subnet.cidr });
        cleanup(() => store.releaseLease(id));
        c.vm = store.vms.update(id, { network: { ip, mac: macFromId(id), tap: null } });
      },
    },
  ];
}

function diskSteps(h: CreateHost, plan: CreatePlan, progress: Progress): Step<CreateCtx>[] {
  const { store, disks } = h.deps;
  const { vmDir } = plan;
  return [
    {
      name: "disks",
      run: async (c, cleanup) => {
        await mkdir(vmDir, { recursive: true, mode: 0o700 });
        cleanup(() => rm(vmDir, { recursive: true, force: true }));
        const d = await disks.prepare({
          vmDir,
          imageRootfs: plan.image.rootfsPath,
          imageWorkSeed: plan.image.workSeedPath,
          diskSizeBytes: plan.spec.diskSizeBytes,
        });
        cleanup(() => disks.remove(d));
        c.disks = d;
        c.vm = store.vms.update(plan.id, { disks: d });
      },
    },
    { name: "ssh-key", run: async (c) => h.writeAuthorizedKey(c.vm) },
    {
      name: "file-sync",
      run: async (c) => {
        const fs = await planFileSync(h.deps.fileSync ?? []);
        for (const w of fs.warnings) {
          h.deps.log.warn({ vm: c.vm.name }, w);
          progress({ kind: "progress", stage: "create:file-sync", phase: "warn", message: w });
        }
        if (fs.files.length) await disks.writeWorkFiles(c.disks!.work, fs.files);
      },
    },
    {
      name: "host-key",
      run: async (c) => {
        const k = await h.deps.hostKeys.generate(vmDir, c.vm.name);
        await disks.writeRootFiles(c.disks!, [
          { path: "etc/ssh/ssh_host_ed25519_key", content: k.privateKey, mode: 0o600 },
          { path: "etc/ssh/ssh_host_ed25519_key.pub", content: `${k.publicKey}\n`, mode: 0o644 },
        ]);
      },
    },
  ];
}
