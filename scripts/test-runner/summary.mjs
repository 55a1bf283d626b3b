// Turns the JSON lines of reporter.mjs into counts, and matches skips against
// the explicit skip list (test/skips.json).
import { readFileSync } from "node:fs";

/**
 * Read and check the skip list: an array of { name, reason }. `name` is a
 * substring of a test's full name ("suite > test"), or /a regex/.
 */
export function loadSkipList(file) {
  const list = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(list)) throw new Error(`${file}: expected an array of {"name", "reason"}`);
  return list.map((e, i) => {
    const where = `${file}[${i}]`;
    if (typeof e?.name !== "string" || e.name.trim() === "")
      throw new Error(`${where}.name: give a substring or /regex/ of the skipped test's full name`);
    if (typeof e.reason !== "string" || e.reason.trim().length < 10)
      throw new Error(`${where}.reason: say why this skip is acceptable (at least 10 characters)`);
    const m = /^\/(.+)\/([a-z]*)$/.exec(e.name);
    const match = m ? (n) => new RegExp(m[1], m[2]).test(n) : (n) => n.includes(e.name);
    return { name: e.name, reason: e.reason, match };
  });
}

/**
 * Rebuild the tree of tests from post-order events (a test or suite is
 * reported after everything nested in it; Node reports files one after
 * another) and give each test its full name.
 */
export function fullNames(events) {
  const pending = [];
  for (const ev of events) {
    const node = { ev, children: [] };
    while (pending.length && pending[pending.length - 1].ev.nesting > ev.nesting)
      node.children.unshift(pending.pop());
    pending.push(node);
  }
  const out = [];
  const walk = (node, prefix) => {
    const name = prefix ? `${prefix} > ${node.ev.name}` : node.ev.name;
    out.push({ ...node.ev, fullName: name });
    for (const c of node.children) walk(c, name);
  };
  for (const root of pending) walk(root, "");
  return out;
}

/** Counts and the lists to print. A skip (or todo) that no skip-list entry matches is a failure. */
export function summarize(events, skipList) {
  const r = { passed: 0, failed: 0, skipped: 0, failures: [], listedSkips: [], unlistedSkips: [] };
  for (const t of fullNames(events)) {
    const skipReason = t.skip ?? t.todo;
    if (t.kind === "suite") {
      // a suite fails on its own only through a hook or its body; "subtestsFailed" is counted in its tests
      if (t.result === "fail" && t.failureType !== "subtestsFailed") {
        r.failed++;
        r.failures.push(t.fullName);
      }
    } else if (t.result === "fail" && t.todo === null) {
      r.failed++;
      r.failures.push(t.fullName);
    } else if (skipReason !== null) {
      const entry = skipList.find((e) => e.match(t.fullName));
      if (entry) {
        r.skipped++;
        r.listedSkips.push({ name: t.fullName, why: skipReason, listed: entry.reason });
      } else {
        r.failed++;
        r.unlistedSkips.push({ name: t.fullName, why: skipReason });
      }
    } else {
      r.passed++;
    }
  }
  return r;
}

export function readEvents(file) {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
