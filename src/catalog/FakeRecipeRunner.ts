/** Test double of RecipeRunner: records calls, writes small fake files, fails on demand. */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { RecipeContext, RecipeResult, RecipeRunner } from "./types.js";

/** Bytes that pass the ext4 superblock check (magic 0xEF53 at byte 1080), not a mountable filesystem. */
export function fakeExt4Bytes(size = 64 * 1024): Buffer {
  const b = Buffer.alloc(Math.max(size, 2048));
  b.writeUInt32LE(16, 1024 + 4); // blocks count
  b.writeUInt16LE(0xef53, 1080);
  return b;
}

/** Bytes that pass the ELF vmlinux check. */
export function fakeElfBytes(size = 4096): Buffer {
  const b = Buffer.alloc(size, 0x90);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b);
  return b;
}

export interface RecipeCall {
  recipeId: string;
  workDir: string;
  entryName: string;
}

export type RecipeBuild = (recipeId: string, ctx: RecipeContext) => Promise<RecipeResult>;

/** Writes fake files for the entry's kind into ctx.workDir. */
export const fakeBuild: RecipeBuild = async (recipeId, ctx) => {
  const out = path.join(ctx.workDir, "out");
  await mkdir(out, { recursive: true });
  const w = async (name: string, data: Buffer) => {
    await writeFile(path.join(out, name), data);
    return path.join(out, name);
  };
  const version = `${recipeId}-built`;
  if (ctx.catalogEntry.kind === "kernel") {
    const mods = path.join(out, "lib-modules");
    await mkdir(path.join(mods, "kernel"), { recursive: true });
    await writeFile(path.join(mods, "kernel", "virtio.ko"), "fake module");
    return { files: { vmlinux: await w("vmlinux", fakeElfBytes()), modules: mods }, version };
  }
  return {
    files: { rootfs: await w("root.img", fakeExt4Bytes()), workSeed: await w("seed.img", fakeExt4Bytes()) },
    version,
  };
};

export class FakeRecipeRunner implements RecipeRunner {
  readonly calls: RecipeCall[] = [];
  /** When set, run() throws it (after recording the call). */
  failWith: Error | null = null;

  constructor(private readonly build: RecipeBuild = fakeBuild) {}

  async run(recipeId: string, ctx: RecipeContext): Promise<RecipeResult> {
    this.calls.push({ recipeId, workDir: ctx.workDir, entryName: ctx.catalogEntry.name });
    ctx.onProgress({
      kind: "progress",
      stage: "recipe:fake",
      phase: "info",
      message: `fake recipe ${recipeId}`,
    });
    if (this.failWith) throw this.failWith;
    return this.build(recipeId, ctx);
  }
}
