import type { Command } from "commander";
import type { KernelView } from "../../api/catalog.js";
import type { CliContext } from "../context.js";
import { json, table } from "../render/output.js";
import { pullPrinter } from "../render/progressBar.js";
import { catalogTable } from "./image.js";

function renderKernel(k: KernelView): string {
  return table([
    ["name:", k.name],
    ["id:", k.id],
    ["version:", `${k.version} (${k.arch})`],
    ["vmlinux:", k.vmlinuxPath],
    ["initrd:", k.initrdPath ?? "-"],
    ["modules:", k.modulesDir ?? "-"],
    ["source:", k.source],
    ["created:", k.createdAt],
    ["used by:", k.usedBy.length ? k.usedBy.join(", ") : "-"],
  ]);
}

type KernelRegister = (kernel: Command, ctx: () => CliContext) => void;

export function registerKernel(program: Command, ctx: () => CliContext): void {
  const kernel = program.command("kernel").description("manage guest kernels (referenced by images)");
  for (const register of [kernelList, kernelShow, kernelPull, kernelDelete]) register(kernel, ctx);
}

const kernelList: KernelRegister = (kernel, ctx) => {
  kernel
    .command("list")
    .alias("ls")
    .description("list local kernels (and, with --available, the catalog's)")
    .option("--available", "also list what the kernel catalog offers")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean; available?: boolean }) => {
      const c = ctx();
      const client = await c.client();
      if (o.available) {
        const a = await client.call("kernel.available", {});
        if (o.json) return json(c.out, a);
        return c.out.write(catalogTable(a.entries));
      }
      const r = await client.call("kernel.list", {});
      if (o.json) return json(c.out, r);
      if (!r.kernels.length) return c.out.write("no kernels (images pull theirs when needed)\n");
      c.out.write(
        table([
          ["NAME", "VERSION", "SOURCE", "USED BY"],
          ...r.kernels.map((k) => [k.name, k.version, k.source, k.usedBy.join(", ") || "-"]),
        ]),
      );
    });
};

const kernelShow: KernelRegister = (kernel, ctx) => {
  kernel
    .command("show")
    .description("everything about a kernel")
    .argument("<name>", "kernel name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const k = await (await c.client()).call("kernel.show", { name });
      if (o.json) return json(c.out, k);
      c.out.write(renderKernel(k));
    });
};

const kernelPull: KernelRegister = (kernel, ctx) => {
  kernel
    .command("pull")
    .description("download a kernel from the catalog, or build it from its recipe")
    .argument("<name>", "catalog name (see `banger kernel list --available`)")
    .option("--from-recipe", "build it locally even when a bundle could be downloaded")
    .option("--json", "print JSON")
    .action(async (name: string, o: { fromRecipe?: boolean; json?: boolean }) => {
      const c = ctx();
      const k = await (await c.client()).call(
        "kernel.pull",
        { name, fromRecipe: !!o.fromRecipe },
        { onEvent: pullPrinter(c.out) },
      );
      if (o.json) return json(c.out, k);
      c.out.write(`kernel ${k.name} ${k.version} ready\n`);
    });
};

const kernelDelete: KernelRegister = (kernel, ctx) => {
  kernel
    .command("delete")
    .description("delete a kernel (refused while an image references it)")
    .argument("<name>", "kernel name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("kernel.delete", { name });
      if (o.json) return json(c.out, r);
      c.out.write(`deleted kernel ${r.deleted}\n`);
    });
};
