import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TuiState } from "../state.js";

// chalk decides its colour level when it is first loaded: force colours, then load Ink
process.env.FORCE_COLOR = "1";
const { render } = await import("ink-testing-library");
const { Screen } = await import("./Screen.js");
const { run, stopped, vm, withVms } = await import("../testFixtures.js");

const ESC = "\u001b[";

function frame(s: TuiState, color: boolean): string {
  return render(<Screen s={s} color={color} />).lastFrame() ?? "";
}

describe("NO_COLOR", () => {
  const s = run(withVms([vm("web"), stopped("db"), vm("bad", { state: "crashed" })]), {
    type: "error",
    error: { code: "VMM", message: "boom", hint: "see the log" },
  });

  it("with colour allowed, states, the selection and errors are styled", () => {
    assert.ok(frame(s, true).includes(ESC), "escape sequences when colour is allowed");
  });

  it("without colour there is no escape sequence, and the meaning is all in the text", () => {
    const f = frame(s, false);
    assert.ok(!f.includes(ESC), "no escape sequence at all");
    assert.match(f, /^> bad +crashed/m, "the selection is a > marker, the state a word");
    assert.match(f, /^ {2}db +stopped/m);
    assert.match(f, /^error: boom$/m, "an error says error:");
    assert.match(f, /\[1 VMs\]/, "the current tab is in brackets");
  });
});
