// A node:test reporter that writes one JSON line per finished test or suite,
// for scripts/run-tests.mjs to count (passed, failed, skipped) and to match
// skips against test/skips.json.
export default async function* jsonLines(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    const error = d.details?.error;
    yield `${JSON.stringify({
      result: event.type === "test:pass" ? "pass" : "fail",
      name: d.name,
      nesting: d.nesting,
      kind: d.details?.type ?? "test",
      skip: d.skip === undefined || d.skip === false ? null : d.skip === true ? "skipped" : String(d.skip),
      todo: d.todo === undefined || d.todo === false ? null : d.todo === true ? "todo" : String(d.todo),
      failureType: error?.failureType ?? null,
    })}\n`;
  }
}
