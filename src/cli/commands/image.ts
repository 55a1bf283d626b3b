import path from "node:path";
import type { Command } from "commander";
import type { CatalogEntryView } from "../../api/catalog.js";
import type { ImageView } from "../../api/vms.js";
import type { CliContext } from "../context.js";
import { json, table } from "../render/output.js";
import { progressPrinter } from "../render/progress.js";
import { pullPrinter } from "../render/progressBar.js";
import { capabilitiesText, humanBytes } from "../render/vm.js";

function renderImage(v: ImageView): string {
  return table(
    [
      ["name:", v.name],
      ["id:", v.id],
      ["version:", `${v.version} (${v.arch})`],
      ["kernel:", v.kernel.path ?? `(${v.kernel.kind})`],
      ["initrd:", v.initrdPath ?? "-"],
      ["rootfs:", v.rootfsPath],
      ["work seed:", v.workSeedPath],
      ["size:", humanBytes(v.sizeBytes)],
      ["source:", v.source],
      ["created:", v.createdAt],
      ["used by:", v.usedBy.length ? v.usedBy.join(", ") : "-"],
      ["guest:", capabilitiesText(v.capabilities, v.readiness)],
    ].concat(v.description ? [["description:", v.description]] : []),
  );
}

const abs = (p: string) => path.resolve(p);

export function catalogTable(entries: CatalogEntryView[]): string {
  if (!entries.length) return "the catalog is empty\n";
  return table([
    ["NAME", "VERSION", "SIZE", "SOURCE", "INSTALLED", "DESCRIPTION"],
    ...entries.map((e) => [
      e.name,
      e.version,
      humanBytes(e.sizeBytes),
      [e.hasBundle ? "bundle" : "", e.hasRecipe ? "recipe" : ""].filter(Boolean).join("+"),
      e.installed ? "yes" : "no",
      e.description,
    ]),
  ]);
}

type ImageRegister = (image: Command, ctx: () => CliContext) => void;

export function registerImage(program: Command, ctx: () => CliContext): void {
  const image = program.command("image").description("manage images (root filesystem, work seed, kernel)");
  for (const register of IMAGE_SUBCOMMANDS) register(image, ctx);
}

/** `banger image register` */
const imageRegisterCmd: ImageRegister = (image, ctx) => {
  image
    .command("register")
    .description("record local image files (they are copied into banger's state directory)")
    .argument("<name>", "image name (lowercase letters, digits, '.', '-')")
    .requiredOption("--kernel <file>", "uncompressed ELF vmlinux")
    .option("--initrd <file>", "initrd (banger's guest initrd sets up the root and /root)")
    .requiredOption("--rootfs <file>", "root filesystem (ext4 image)")
    .requiredOption("--work-seed <file>", "ext4 image each VM's /root starts from")
    .option("--description <text>", "free text")
    .option("--json", "print JSON")
    .action(
      async (
        name: string,
        o: {
          kernel: string;
          initrd?: string;
          rootfs: string;
          workSeed: string;
          description?: string;
          json?: boolean;
        },
      ) => {
        const c = ctx();
        const v = await (await c.client()).call(
          "image.register",
          {
            name,
            kernel: abs(o.kernel),
            ...(o.initrd ? { initrd: abs(o.initrd) } : {}),
            rootfs: abs(o.rootfs),
            workSeed: abs(o.workSeed),
            ...(o.description ? { description: o.description } : {}),
          },
          { onEvent: progressPrinter(c.out) },
        );
        if (o.json) return json(c.out, v);
        c.out.write(`registered image ${v.name} (${humanBytes(v.sizeBytes)})\n`);
        c.out.write(`  guest: ${capabilitiesText(v.capabilities, v.readiness)}\n`);
      },
    );
};

/** `banger image list` */
const imageList: ImageRegister = (image, ctx) => {
  image
    .command("list")
    .alias("ls")
    .description("list local images (and, with --available, the catalog's)")
    .option("--available", "also list what the image catalog offers")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean; available?: boolean }) => {
      const c = ctx();
      const client = await c.client();
      if (o.available) {
        const a = await client.call("image.available", {});
        if (o.json) return json(c.out, a);
        return c.out.write(catalogTable(a.entries));
      }
      const r = await client.call("image.list", {});
      if (o.json) return json(c.out, r);
      if (!r.images.length)
        return c.out.write(
          "no images (pull one with `banger image pull debian-bookworm`, or see `banger image list --available`)\n",
        );
      c.out.write(
        table([
          ["NAME", "VERSION", "SIZE", "SOURCE", "USED BY"],
          ...r.images.map((i) => [
            i.name,
            i.version,
            humanBytes(i.sizeBytes),
            i.source,
            i.usedBy.join(", ") || "-",
          ]),
        ]),
      );
    });
};

/** `banger image pull` */
const imagePull: ImageRegister = (image, ctx) => {
  image
    .command("pull")
    .description(
      "download an image from the catalog (verified), or build it from its recipe when there is no bundle",
    )
    .argument("<name>", "catalog name (see `banger image list --available`)")
    .option("--from-recipe", "build it locally from its recipe even when a bundle could be downloaded")
    .option("--json", "print JSON")
    .action(async (name: string, o: { fromRecipe?: boolean; json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call(
        "image.pull",
        { name, fromRecipe: !!o.fromRecipe },
        { onEvent: pullPrinter(c.out) },
      );
      if (o.json) return json(c.out, v);
      c.out.write(`image ${v.name} ${v.version} ready (${humanBytes(v.sizeBytes)}, ${v.source})\n`);
    });
};

/** `banger image build-recipe` */
const imageBuildRecipe: ImageRegister = (image, ctx) => {
  image
    .command("build-recipe")
    .description("build a catalog image locally from its recipe (Debian packages), with progress stages")
    .argument("<name>", "catalog name with a recipe, e.g. debian-bookworm")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("image.buildRecipe", { name }, { onEvent: pullPrinter(c.out) });
      if (o.json) return json(c.out, v);
      c.out.write(`image ${v.name} ${v.version} built (${humanBytes(v.sizeBytes)})\n`);
    });
};

/** `banger image build` */
const imageBuild: ImageRegister = (image, ctx) => {
  image
    .command("build")
    .description(
      "derive a new image from a registered one: install packages, run a script, copy files (no root: a user namespace)",
    )
    .argument("<name>", "name of the new image")
    .requiredOption("--from <image>", "the image to start from")
    .option("--install <pkg...>", "Debian packages to install (apt-get, inside the image)")
    .option("--script <file>", "shell script run inside the image as root")
    .option("--copy <src:dest...>", "copy a host file or directory into the image (SRC:DEST, DEST absolute)")
    .option("--json", "print JSON")
    .action(
      async (
        name: string,
        o: { from: string; install?: string[]; script?: string; copy?: string[]; json?: boolean },
      ) => {
        const c = ctx();
        const copy = o.copy?.map((spec) => {
          const i = spec.indexOf(":");
          return i > 0 ? `${path.resolve(spec.slice(0, i))}${spec.slice(i)}` : spec;
        });
        const v = await (await c.client()).call(
          "image.build",
          {
            name,
            from: o.from,
            ...(o.install ? { install: o.install } : {}),
            ...(o.script ? { script: path.resolve(o.script) } : {}),
            ...(copy ? { copy } : {}),
          },
          { onEvent: progressPrinter(c.out) },
        );
        if (o.json) return json(c.out, v);
        c.out.write(`image ${v.name} built from ${o.from} (${humanBytes(v.sizeBytes)})\n`);
      },
    );
};

/** `banger image export` */
const imageExport: ImageRegister = (image, ctx) => {
  image
    .command("export")
    .description("write an image as a bundle plus its catalog entry (BUNDLE.json), to host your own catalog")
    .argument("<name>", "image name")
    .requiredOption("-o, --output <file>", "bundle file to write (.tar.gz)")
    .option("--json", "print JSON")
    .action(async (name: string, o: { output: string; json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call(
        "image.export",
        { name, output: path.resolve(o.output) },
        { onEvent: pullPrinter(c.out) },
      );
      if (o.json) return json(c.out, r);
      c.out.write(`bundle: ${r.bundle}\ncatalog entry: ${r.entry}\n`);
    });
};

/** `banger image show` */
const imageShow: ImageRegister = (image, ctx) => {
  image
    .command("show")
    .description("everything about an image")
    .argument("<name>", "image name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const v = await (await c.client()).call("image.show", { name });
      if (o.json) return json(c.out, v);
      c.out.write(renderImage(v));
    });
};

/** `banger image delete` */
const imageDelete: ImageRegister = (image, ctx) => {
  image
    .command("delete")
    .description("delete an image (refused while a VM uses it)")
    .argument("<name>", "image name")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const c = ctx();
      const r = await (await c.client()).call("image.delete", { name });
      if (o.json) return json(c.out, r);
      c.out.write(`deleted image ${r.deleted}\n`);
    });
};

/** In the order `banger image --help` lists them. */
const IMAGE_SUBCOMMANDS: ImageRegister[] = [
  imageRegisterCmd,
  imageList,
  imagePull,
  imageBuildRecipe,
  imageBuild,
  imageExport,
  imageShow,
  imageDelete,
];
