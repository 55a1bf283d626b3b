import { checkRuntime, enableCompileCache } from "./runtime.js";

checkRuntime();
enableCompileCache();
// Loaded after the check and with the cache on: the CLI's own modules come from the cache.
const { main } = await import("../cli/main.js");
process.exitCode = await main(process.argv.slice(2));
