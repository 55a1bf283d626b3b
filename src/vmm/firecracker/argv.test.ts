import assert from "node:assert/strict";
import { test } from "node:test";
import { assertSocketPath, firecrackerArgv, firecrackerPaths } from "./argv.js";

test("firecrackerArgv passes the API socket and the id", () => {
  assert.deepEqual(firecrackerArgv("/usr/bin/firecracker", "/s/vm/fc.sock", "0a1b2c"), [
    "/usr/bin/firecracker",
    "--api-sock",
    "/s/vm/fc.sock",
    "--id",
    "0a1b2c",
  ]);
});

test("--id allows letters, digits and '-', 1-64 characters", () => {
  assert.doesNotThrow(() => firecrackerArgv("fc", "/s", "vm-1"));
  assert.doesNotThrow(() => firecrackerArgv("fc", "/s", "a".repeat(64)));
  assert.throws(() => firecrackerArgv("fc", "/s", "a".repeat(65)), /not a valid Firecracker --id/);
  assert.throws(() => firecrackerArgv("fc", "/s", ""), /not a valid/);
  assert.throws(() => firecrackerArgv("fc", "/s", "vm_1"), /not a valid/);
});

test("paths inside the VM directory", () => {
  assert.deepEqual(firecrackerPaths("/state/vms/ab"), {
    apiSock: "/state/vms/ab/fc.sock",
    vsock: "/state/vms/ab/vsock.sock",
    metrics: "/state/vms/ab/metrics.json",
  });
});

test("socket paths must fit in sockaddr_un", () => {
  assert.doesNotThrow(() => assertSocketPath(`/${"a".repeat(106)}`));
  assert.throws(() => assertSocketPath(`/${"a".repeat(107)}`), {
    code: "INVALID_ARGUMENT",
    message: /108 bytes/,
  });
});
