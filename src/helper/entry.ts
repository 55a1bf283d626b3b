/**
 * The bundle's entry point: always runs the helper. (sudo starts a
 * digest-pinned command through fexecve, so the script's own path reads
 * /dev/fd/N: the bundle must not decide from argv[1] whether it is main.)
 */
import { helperMain } from "./main.js";

helperMain().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`banger-helper: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
