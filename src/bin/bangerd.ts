import { checkRuntime } from "./runtime.js";

checkRuntime();
const { main } = await import("../daemon/main.js");
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Whatever handle is still open must not keep a stopped daemon alive.
setTimeout(() => process.exit(code), 2000).unref();
