import assert from "node:assert/strict";
import { test } from "node:test";
import { HELPER_INSTALL_PATH } from "../helper/protocol.js";
import { FakeHostProbe, type FakeHostSpec } from "../host/fake/FakeHostProbe.js";
import { installedHelperText, sha256Hex } from "../host/helper/install.js";
import { privilegesCheck } from "./privileges.js";

const BUNDLE = "/opt/banger/dist/helper/banger-helper.mjs";
const TEXT = "#!/usr/bin/env node\nconsole.log('helper');\n";
const SUDO_L = `sudo -n -l ${HELPER_INSTALL_PATH}`;

function probe(spec: FakeHostSpec = {}) {
  return new FakeHostProbe({
    uid: 1000,
    env: { USER: "alice" },
    bins: { sudo: "/usr/bin/sudo" },
    files: { [BUNDLE]: TEXT, [HELPER_INSTALL_PATH]: installedHelperText(TEXT) },
    runs: { [SUDO_L]: { code: 0, stdout: `${HELPER_INSTALL_PATH}\n` } },
    ...spec,
  });
}

test("root: privileged work runs through the bundled helper directly", async () => {
  const r = await privilegesCheck(probe({ uid: 0 }), BUNDLE);
  assert.equal(r.status, "pass");
  assert.match(r.detail, /root.*bundled helper.*directly/);
});

test("a normal user with the current helper and a sudoers line passes", async () => {
  const p = probe();
  const r = await privilegesCheck(p, BUNDLE);
  assert.equal(r.status, "pass", r.detail);
  assert.match(r.detail, new RegExp(sha256Hex(installedHelperText(TEXT)).slice(0, 12)));
  assert.deepEqual(p.ran, [["sudo", "-n", "-l", HELPER_INSTALL_PATH]]);
});

test("no helper installed, another build's helper, or no sudoers line: fail with the fix and the line", async () => {
  const digest = sha256Hex(installedHelperText(TEXT));
  const line = `alice ALL=(root) NOPASSWD:NOSETENV: sha256:${digest} ${HELPER_INSTALL_PATH}`;
  const cases: Array<[FakeHostSpec, RegExp]> = [
    [{ files: { [BUNDLE]: TEXT } }, /is not installed/],
    [{ files: { [BUNDLE]: TEXT, [HELPER_INSTALL_PATH]: "#!/x\nold();\n" } }, /another banger build/],
    [{ runs: { [SUDO_L]: { code: 1, stderr: "a password is required" } } }, /does not let alice run/],
    [{ bins: {} }, /sudo is not installed/],
  ];
  for (const [spec, re] of cases) {
    const r = await privilegesCheck(probe(spec), BUNDLE);
    assert.equal(r.status, "fail");
    assert.match(r.detail, re);
    assert.match(r.fix ?? "", /sudo banger sudoers --install --user alice/);
    assert.ok(r.fix?.includes(line), "the fix prints the exact line");
    assert.match(r.fix ?? "", /after every banger upgrade/);
  }
});
