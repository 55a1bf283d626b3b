// Node's spec reporter, minus one wrong fact: tests declared through
// skipShim.mjs carry the shim as their declaration place ("test at
// scripts/test-runner/skipShim.mjs:63:41"). That location is dropped here;
// a failure's error stack still points at the test file's own lines.
import { Transform } from "node:stream";
import { spec as SpecReporter } from "node:test/reporters";

const SHIM = "skipShim.mjs";
const inner = new SpecReporter();

function withoutShimLocation(event) {
  const data = event.data;
  if (typeof data?.file !== "string" || !data.file.endsWith(SHIM)) return event;
  const { file: _file, line: _line, column: _column, ...rest } = data;
  return { type: event.type, data: rest };
}

export default new Transform({
  writableObjectMode: true,
  transform(event, encoding, callback) {
    inner._transform(withoutShimLocation(event), encoding, callback);
  },
  flush(callback) {
    inner._flush(callback);
  },
});
