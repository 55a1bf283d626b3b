import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { callerIds, type HelperContext, passwdEntry } from "./context.js";
import { handleLine } from "./main.js";

const ctx: HelperContext = {
  uid: 1000,
  gid: 1000,
  vmmUid: 1000,
  vmmGid: 1000,
  run: async () => ({ code: 0, stdout: "", stderr: "" }),
};

describe("helper request handling", () => {
  it("answers hello with the caller", async () => {
    const r = await handleLine(ctx, JSON.stringify({ id: 7, verb: "hello", args: {} }));
    assert.deepEqual(r, { id: 7, ok: true, result: { version: 1, uid: 1000, vmmUid: 1000, vmmGid: 1000 } });
  });

  it("refuses an unknown verb, naming it", async () => {
    const r = await handleLine(ctx, JSON.stringify({ id: 2, verb: "exec", args: { argv: ["sh"] } }));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, "UNKNOWN_VERB");
    assert.match(!r.ok ? r.error.message : "", /unknown verb "exec"/);
  });

  it("has the firewall verbs, and refuses a bad spec naming the field before touching anything", async () => {
    const calls: string[][] = [];
    const c: HelperContext = {
      ...ctx,
      run: async (argv) => {
        calls.push([...argv]);
        return { code: 0, stdout: "", stderr: "" };
      },
    };
    const spec = {
      bridge: "banger0",
      subnet: "172.30.0.0/24",
      gateway: "172.30.0.1",
      dnsPort: 0,
      nat: true,
      vms: [],
    };
    const r = await handleLine(c, JSON.stringify({ id: 3, verb: "firewall.apply", args: { spec } }));
    assert.equal(!r.ok && r.error.code, "INVALID_ARGUMENT");
    assert.match(!r.ok ? r.error.message : "", /spec.dnsPort: 0 must be an integer from 1 to 65535/);
    assert.deepEqual(calls, []);
    const f = await handleLine(
      c,
      JSON.stringify({ id: 4, verb: "conntrack.flush", args: { ip: "1.2.3.4; rm" } }),
    );
    assert.match(!f.ok ? f.error.message : "", /args.ip: "1.2.3.4; rm" is not an IPv4 address/);
  });

  it("refuses prototype names and malformed lines", async () => {
    for (const line of [JSON.stringify({ id: 1, verb: "constructor" }), "{not json", "null", "42"]) {
      const r = await handleLine(ctx, line);
      assert.equal(r.ok, false, line);
    }
  });
});

describe("caller identity", () => {
  it("takes SUDO_UID only when running as root", () => {
    assert.deepEqual(callerIds({ SUDO_UID: "1000", SUDO_GID: "100" }, { uid: 0, gid: 0 }), {
      uid: 1000,
      gid: 100,
    });
    assert.deepEqual(callerIds({ SUDO_UID: "0" }, { uid: 1000, gid: 1000 }), { uid: 1000, gid: 1000 });
    assert.deepEqual(callerIds({}, { uid: 0, gid: 0 }), { uid: 0, gid: 0 });
    assert.throws(() => callerIds({ SUDO_UID: "1000;id" }, { uid: 0, gid: 0 }), /not numeric/);
  });

  it("reads a user from passwd text", () => {
    const text = "root:x:0:0:root:/root:/bin/bash\nbanger-vmm:x:998:997::/nonexistent:/usr/sbin/nologin\n";
    assert.deepEqual(passwdEntry(text, "banger-vmm"), { uid: 998, gid: 997 });
    assert.equal(passwdEntry(text, "nobody"), null);
  });
});
