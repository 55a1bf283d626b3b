import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { armedFault, armFault, FAULT_STEPS, faultPoints } from "./fault.js";

describe("fault injection", () => {
  it("lists every step of every phase, before and after", () => {
    const all = faultPoints();
    assert.equal(all.length, 2 * Object.values(FAULT_STEPS).flat().length);
    assert.ok(all.includes("create:disks:after"));
    assert.ok(all.includes("boot:spawn:before"));
    assert.ok(all.includes("delete:record:after"));
    assert.deepEqual(faultPoints(["stop"]).slice(0, 2), ["stop:vmm:before", "stop:vmm:after"]);
  });

  it("is inert unless armed, and refuses a point that does not exist", () => {
    armFault(undefined);
    assert.equal(armedFault(), null);
    assert.throws(
      () => armFault("create:nope:after"),
      /BANGER_FAULT="create:nope:after" names no kill point/,
    );
    assert.equal(armedFault(), null);
  });

  it("runSteps SIGKILLs the process at the armed point, after the steps before it", () => {
    const steps = new URL("./steps.js", import.meta.url).href;
    const fault = new URL("./fault.js", import.meta.url).href;
    const script = `
      const { runSteps } = await import(${JSON.stringify(steps)});
      const { armFault } = await import(${JSON.stringify(fault)});
      armFault("create:lease:after");
      const step = (name) => ({ name, run: async () => { process.stdout.write(name + "\\n"); } });
      await runSteps([step("record"), step("lease"), step("disks")], {}, { phase: "create" });
      process.stdout.write("finished\\n");`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.signal, "SIGKILL", r.stderr);
    assert.equal(r.stdout, "record\nlease\n");
    assert.match(r.stderr, /BANGER_FAULT create:lease:after/);
  });
});
