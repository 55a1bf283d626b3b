import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeExec,
  encodeKill,
  encodeSimple,
  encodeStdin,
  fromB64,
  isVsockOk,
  LineSplitter,
  MAX_REQUEST_LINE,
  parseReply,
  STDIN_CHUNK_BYTES,
  textField,
  toB64,
  vsockConnectLine,
} from "./protocol.js";

const b = (s: string) => Buffer.from(s).toString("base64");

describe("agent protocol: requests", () => {
  it("encodes the simple requests and kill", () => {
    assert.equal(encodeSimple(7, "ping"), "7 ping\n");
    assert.equal(encodeSimple(8, "stdin-eof"), "8 stdin-eof\n");
    assert.equal(encodeKill(9, 15), "9 kill 15\n");
    assert.throws(() => encodeKill(9, 0), RangeError);
    assert.throws(() => encodeKill(9, 1.5), RangeError);
  });

  it("encodes exec: cwd, env count, K=V entries, argv, each base64; '-' for empty text", () => {
    const line = encodeExec(3, { argv: ["sh", "-c", "echo hi", ""], cwd: "/tmp", env: { A: "1 2", B: "" } });
    assert.equal(
      line,
      `3 exec ${b("/tmp")} 2 ${b("A=1 2")} ${b("B=")} ${b("sh")} ${b("-c")} ${b("echo hi")} -\n`,
    );
    assert.equal(encodeExec(4, { argv: ["true"] }), `4 exec - 0 ${b("true")}\n`);
    assert.equal(textField(""), "-");
  });

  it("refuses an exec the agent could not take", () => {
    assert.throws(() => encodeExec(1, { argv: [] }), /needs a command/);
    assert.throws(() => encodeExec(1, { argv: ["x"], env: { "A=B": "1" } }), /bad environment variable/);
    assert.throws(() => encodeExec(1, { argv: ["x"], env: { "": "1" } }), /bad environment variable/);
    assert.throws(() => encodeExec(1, { argv: ["a\0b"] }), /NUL/);
    assert.throws(() => encodeExec(1, { argv: ["x".repeat(MAX_REQUEST_LINE)] }), /too long/);
  });

  it("splits stdin into chunks that fit a request line", () => {
    assert.deepEqual(encodeStdin(5, ""), []);
    assert.deepEqual(encodeStdin(5, "hi"), [`5 stdin ${b("hi")}\n`]);
    const big = Buffer.alloc(STDIN_CHUNK_BYTES * 2 + 1, 7);
    const lines = encodeStdin(6, big);
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.length < MAX_REQUEST_LINE));
    const back = Buffer.concat(lines.map((l) => Buffer.from(l.trim().split(" ")[2]!, "base64")));
    assert.ok(back.equals(big));
  });

  it("speaks Firecracker's handshake", () => {
    assert.equal(vsockConnectLine(), "CONNECT 1024\n");
    assert.ok(isVsockOk("OK 1073741824"));
    assert.ok(!isVsockOk("FAILURE"));
  });
});

describe("agent protocol: replies", () => {
  it("parses every reply kind", () => {
    assert.deepEqual(parseReply("1 pong 1"), { id: 1, kind: "pong", version: "1" });
    assert.deepEqual(parseReply(`2 out ${b("a\nb")}`), { id: 2, kind: "out", data: Buffer.from("a\nb") });
    assert.deepEqual(parseReply(`2 err ${b("x")}`), { id: 2, kind: "err", data: Buffer.from("x") });
    assert.deepEqual(parseReply("2 exit 143"), { id: 2, kind: "exit", code: 143 });
    assert.deepEqual(parseReply(`0 error ${b("no id")}`), { id: 0, kind: "error", message: "no id" });
    const ports = [{ proto: "tcp6", address: "::", port: 22 }];
    assert.deepEqual(parseReply(`3 ports ${JSON.stringify(ports)}`), { id: 3, kind: "ports", ports });
    const health = {
      uptimeSec: 3.2,
      load: [0, 0.5, 1],
      memory: { totalBytes: 10, availableBytes: 5 },
      disks: [{ mount: "/", totalBytes: 100, usedBytes: 10 }],
    };
    assert.deepEqual(parseReply(`4 health ${JSON.stringify(health)}`), { id: 4, kind: "health", health });
  });

  it("reports invalid lines with the id when there is one", () => {
    assert.deepEqual(parseReply("hello"), { kind: "invalid", id: null, reason: "not a reply line" });
    assert.equal(parseReply("5 exit x").kind, "invalid");
    assert.equal(parseReply("5 out !!!").kind, "invalid");
    assert.equal(parseReply("5 out").kind, "invalid");
    assert.equal(parseReply("5 pong").kind, "invalid");
    assert.equal(parseReply("5 ports {").kind, "invalid");
    assert.equal(parseReply('5 ports [{"proto":"udp","address":"x","port":1}]').kind, "invalid");
    assert.equal(parseReply('5 health {"uptimeSec":1}').kind, "invalid");
    const bad = parseReply("6 frobnicate x");
    assert.equal(bad.kind, "invalid");
    assert.equal(bad.id, 6);
  });

  it("decodes base64 strictly", () => {
    assert.equal(fromB64(toB64("héllo"))?.toString(), "héllo");
    assert.equal(fromB64("abc"), undefined);
    assert.equal(fromB64("ab=c"), undefined);
    assert.equal(fromB64("a b="), undefined);
  });
});

describe("LineSplitter", () => {
  it("joins lines across chunks, strips CR, keeps the partial tail", () => {
    const s = new LineSplitter(100);
    assert.deepEqual(s.push(Buffer.from("1 po")), []);
    assert.deepEqual(s.push(Buffer.from("ng 1\r\n2 pong 1\n3")), ["1 pong 1", "2 pong 1"]);
    assert.deepEqual(s.push(Buffer.from(" exit 0\n")), ["3 exit 0"]);
  });

  it("throws on a line longer than the limit", () => {
    const s = new LineSplitter(10);
    s.push(Buffer.from("12345"));
    assert.throws(() => s.push(Buffer.from("678901")), /longer than 10 bytes/);
  });
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("agent protocol v2: pty and transfers", () => {
  it("encodes exec-pty, resize, get, credit, put and pent", async () => {
    const p = await import("./protocol.js");
    assert.equal(
      p.encodeExec(3, { argv: ["sh"], pty: { rows: 30, cols: 100 } }),
      `3 exec-pty 30 100 - 0 ${b64("sh")}\n`,
    );
    assert.equal(p.encodeWinsize(3, "resize", 40, 120), "3 resize 40 120\n");
    assert.throws(() => p.encodeWinsize(3, "resize", 0, 80), RangeError);
    assert.equal(p.encodeGet(4, "/root/x"), `4 get ${b64("/root/x")}\n`);
    assert.equal(p.encodeCredit(4, 65536), "4 credit 65536\n");
    assert.equal(p.encodePut(5, "/root", "tree"), `5 put ${b64("/root")} ${b64("tree")}\n`);
    assert.throws(() => p.encodePut(5, "/root", ".."), RangeError);
    const e = {
      type: "symlink",
      mode: 0o777,
      mtimeSec: 9,
      mtimeNsec: 5,
      size: 0,
      path: "a/l",
      target: "../f",
    } as const;
    assert.equal(p.encodePent(5, e), `5 pent l 777 9 5 ${b64("a/l")} ${b64("../f")}\n`);
    assert.equal(p.encodePent(5, { ...e, type: "dir", path: "" }), "5 pent d 777 9 5 -\n");
    assert.ok(p.encodePdata(5, Buffer.alloc(300 * 1024)).every((l) => l.startsWith("5 pdata ")));
  });

  it("parses fent and fdata, and refuses a malformed fent", async () => {
    const p = await import("./protocol.js");
    assert.deepEqual(p.parseReply(`7 fent f 4755 100 20 6 ${b64("sub/a")}`), {
      id: 7,
      kind: "fent",
      entry: { type: "file", mode: 0o4755, mtimeSec: 100, mtimeNsec: 20, size: 6, path: "sub/a" },
    });
    assert.deepEqual(p.parseReply(`7 fent l 777 1 0 0 - ${b64("t")}`), {
      id: 7,
      kind: "fent",
      entry: { type: "symlink", mode: 0o777, mtimeSec: 1, mtimeNsec: 0, size: 0, path: "", target: "t" },
    });
    assert.equal(p.parseReply("7 fent x 777 1 0 0 -").kind, "invalid");
    assert.equal(p.parseReply("7 fent l 777 1 0 0 -").kind, "invalid", "a link needs its target");
    assert.equal(p.parseReply(`7 fdata ${b64("hi")}`).kind, "fdata");
  });
});
