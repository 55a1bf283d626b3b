import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBangerError } from "../../errors/index.js";
import { parseCpArg } from "./cp.js";
import { parseEnv } from "./exec.js";

describe("vm cp and vm exec arguments", () => {
  it("NAME:PATH is a guest path; paths starting with / or . and plain names are local", () => {
    assert.deepEqual(parseCpArg("box:/root/a"), { vm: "box", path: "/root/a" });
    assert.deepEqual(parseCpArg("box:rel"), { vm: "box", path: "rel" });
    assert.deepEqual(parseCpArg("./a:b"), { local: "./a:b" });
    assert.deepEqual(parseCpArg("/x:y"), { local: "/x:y" });
    assert.deepEqual(parseCpArg("file.txt"), { local: "file.txt" });
    assert.throws(
      () => parseCpArg("box:"),
      (e: unknown) => isBangerError(e) && e.code === "USAGE",
    );
  });

  it("--env KEY=VALUE, the value may hold =; a malformed one is named", () => {
    assert.deepEqual(parseEnv(["A=1", "B=x=y", "C="]), { A: "1", B: "x=y", C: "" });
    assert.throws(() => parseEnv(["=v"]), /--env "=v": expected KEY=VALUE/);
  });
});
