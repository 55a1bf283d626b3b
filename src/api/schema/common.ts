/** Field schemas shared by every area of the API (see docs/decisions/schema.md). */
import { z } from "zod";

/** A VM, image or kernel name as a client sends it (the services check the finer rules). */
export const Name = z.string().min(1, "must be a non-empty string");

/** `{ name }`: the params of every method that acts on one named object. */
export const RefParams = z.strictObject({ name: Name });

/** A method without params. */
export const NoParams = z.strictObject({});

export const Int = (min: number, max: number) =>
  z
    .number()
    .int("must be an integer")
    .min(min, `must be an integer from ${min} to ${max}`)
    .max(max, `must be an integer from ${min} to ${max}`);

export const AbsolutePath = z
  .string()
  .min(1, "must be a non-empty string")
  .refine((s) => s.startsWith("/"), { message: "must be an absolute path" });

/** `{ deleted: NAME }`: the result of every delete. */
export const Deleted = z.object({ deleted: z.string() });
