import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  detectAcceleration,
  findExecutable,
  hasHardwareVirt,
  kvmUsable,
  parseCpuMhz,
  readHostMhz,
} from "./accel.js";

describe("detectAcceleration", () => {
  it("kvm when the check passes, tcg when not", () => {
    assert.equal(
      detectAcceleration(() => true),
      "kvm",
    );
    assert.equal(
      detectAcceleration(() => false),
      "tcg",
    );
  });

  it("a missing device is not usable", () => {
    assert.equal(
      kvmUsable("/nonexistent/kvm", () => "flags\t: fpu vmx\n"),
      false,
    );
  });

  it("a usable device still needs vmx or svm (a PVM /dev/kvm cannot run stock kernels)", () => {
    // /dev/null stands in for a readable and writable device.
    assert.equal(
      kvmUsable("/dev/null", () => "flags\t\t: fpu vme sse2 vmx ept\n"),
      true,
    );
    assert.equal(
      kvmUsable("/dev/null", () => "flags\t\t: fpu svm\n"),
      true,
    );
    assert.equal(
      kvmUsable("/dev/null", () => "flags\t\t: fpu vme sse2 hypervisor\n"),
      false,
    );
    assert.equal(hasHardwareVirt("processor\t: 0\n"), false);
  });
});

describe("host MHz", () => {
  const cpuinfo =
    "processor\t: 0\nmodel name\t: Some CPU\ncpu MHz\t\t: 2600.004\ncache size\t: 1 KB\n\nprocessor\t: 1\ncpu MHz\t\t: 1200.000\n";

  it("reads the first cpu MHz line", () => {
    assert.equal(parseCpuMhz(cpuinfo), 2600.004);
    assert.equal(
      readHostMhz(() => cpuinfo),
      2600.004,
    );
  });

  it("null when absent or unreadable", () => {
    assert.equal(parseCpuMhz("processor\t: 0\n"), null);
    assert.equal(parseCpuMhz("cpu MHz\t\t: 0\n"), null);
    assert.equal(
      readHostMhz(() => {
        throw new Error("EACCES");
      }),
      null,
    );
  });
});

describe("findExecutable", () => {
  const exe = new Set(["/usr/bin/qemu-system-x86_64", "/usr/sbin/ip", "/opt/q"]);
  const isExe = (p: string) => exe.has(p);

  it("searches PATH, then sbin", async () => {
    assert.equal(
      await findExecutable("qemu-system-x86_64", "/usr/local/bin:/usr/bin", isExe),
      "/usr/bin/qemu-system-x86_64",
    );
    assert.equal(await findExecutable("ip", "/usr/bin", isExe), "/usr/sbin/ip");
    assert.equal(await findExecutable("nope", "/usr/bin", isExe), null);
  });

  it("takes a path as it is", async () => {
    assert.equal(await findExecutable("/opt/q", "", isExe), "/opt/q");
    assert.equal(await findExecutable("/opt/missing", "/usr/bin", isExe), null);
  });
});
