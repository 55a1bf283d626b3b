// Preloaded into every test process by scripts/run-tests.mjs (--import).
//
// Node's runner never runs the body of a skipped describe, so the tests in it
// are neither reported nor counted: a skipped suite hides how much went
// untested. This shim turns a describe-level skip into per-test skips: the
// suite runs unskipped, and while its body is defined node:test's `test`/`it`
// register every test as skipped with the suite's reason, nested suites do
// the same; before/beforeEach/afterEach hooks are dropped (they would set up
// what the skipped tests need) and after hooks run with their errors ignored
// (they undo what the body made). It replaces node:test's exports with module.syncBuiltinESMExports()
// before any test file imports it. Cost: Node records the shim, not the test
// file, as the location where each test was declared (error stacks still point
// at the test's own lines).
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const nodeTest = require("node:test");
const real = { test: nodeTest.test, describe: nodeTest.describe };
/** The skip reason while the body of a skipped suite is being defined (survives awaits). */
const skipping = new AsyncLocalStorage();

function parse(args) {
  let name;
  let opts = {};
  let fn;
  for (const a of args) {
    if (typeof a === "string") name = a;
    else if (typeof a === "function") fn = a;
    else if (a && typeof a === "object") opts = a;
  }
  return { name: name ?? fn?.name ?? "<anonymous>", opts, fn };
}

const reasonOf = (opts) => {
  if (opts.skip) return typeof opts.skip === "string" ? opts.skip : "skipped";
  if (opts.todo) return typeof opts.todo === "string" ? `todo: ${opts.todo}` : "todo";
  return null;
};

/** Run a skipped suite's body in skipping mode; a body that throws leaves one skipped placeholder. */
function defineSkipped(reason, name, fn) {
  const placeholder = (e) =>
    real.test(`(the tests of "${name}" could not be listed: ${e?.message ?? e})`, { skip: reason }, () => {});
  return skipping.run(reason, () => {
    try {
      const r = fn?.();
      return r && typeof r.then === "function" ? r.then(undefined, placeholder) : r;
    } catch (e) {
      placeholder(e);
    }
  });
}

function describe(...args) {
  const { name, opts, fn } = parse(args);
  const reason = skipping.getStore() ?? reasonOf(opts);
  if (reason === null) return real.describe(...args);
  return real.describe(name, { ...opts, skip: false, todo: false }, () => defineSkipped(reason, name, fn));
}

function test(...args) {
  const reason = skipping.getStore();
  if (reason === undefined) return real.test(...args);
  const { name, opts, fn } = parse(args);
  return real.test(name, { ...opts, skip: opts.skip || reason }, fn);
}

function withVariants(f) {
  const variant =
    (extra) =>
    (...a) => {
      const { name, opts, fn } = parse(a);
      return f(name, { ...opts, ...extra(opts) }, fn);
    };
  f.skip = variant((o) => ({ skip: o.skip || true }));
  f.todo = variant((o) => ({ todo: o.todo || true }));
  f.only = variant(() => ({ only: true }));
  return f;
}

const hook =
  (realHook) =>
  (...args) =>
    skipping.getStore() === undefined ? realHook(...args) : undefined;

/**
 * In a skipped suite, `after` hooks still run: they undo what the suite's
 * body made (a temp dir made while defining the tests). Their errors are
 * ignored there, since they may also undo a `before` that never ran.
 */
const afterHook =
  (realAfter) =>
  (...args) => {
    if (skipping.getStore() === undefined) return realAfter(...args);
    const fn = args.find((a) => typeof a === "function");
    const opts = args.find((a) => a && typeof a === "object");
    return realAfter(async (...a) => {
      try {
        await fn?.(...a);
      } catch {
        /* undoing what the skipped suite never set up */
      }
    }, opts);
  };

// Installed before any test file imports node:test: its ESM exports are fixed at first import.
nodeTest.describe = withVariants(describe);
nodeTest.suite = nodeTest.describe;
nodeTest.test = withVariants(test);
nodeTest.it = nodeTest.test;
for (const h of ["before", "beforeEach", "afterEach"]) nodeTest[h] = hook(nodeTest[h]);
nodeTest.after = afterHook(nodeTest.after);
syncBuiltinESMExports();

// A Node whose node:test exports cannot be replaced this way would count skipped suites as
// nothing again: fail every test file loudly instead.
const esm = await import("node:test");
if (esm.describe !== nodeTest.describe || esm.it !== nodeTest.it) {
  throw new Error(
    `scripts/test-runner/skipShim.mjs could not wrap node:test on Node ${process.version}: skipped suites would go uncounted`,
  );
}
