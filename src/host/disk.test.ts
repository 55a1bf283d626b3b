import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  debugfsErrors,
  debugfsErrorsByFile,
  debugfsMarker,
  debugfsQuote,
  debugfsSections,
  debugfsStatType,
  debugfsWriteRequests,
  diskArgv,
  imageParents,
  imagePath,
} from "./disk.js";

describe("diskArgv", () => {
  it("builds argv arrays that end options before paths", () => {
    assert.deepEqual(diskArgv.sparseCopy("/a", "/b"), ["cp", "--sparse=always", "--", "/a", "/b"]);
    assert.deepEqual(diskArgv.truncate("/w", 1024), ["truncate", "-s", "1024", "--", "/w"]);
    assert.deepEqual(diskArgv.debugfsQuery("/img", "/req"), ["debugfs", "-f", "/req", "/img"]);
    assert.deepEqual(diskArgv.debugfsScript("/img", "/req"), ["debugfs", "-w", "-f", "/req", "/img"]);
  });
});

describe("debugfsQuote", () => {
  it("quotes whitespace and doubles quotes; refuses line breaks and NUL", () => {
    assert.equal(debugfsQuote("/a/b"), "/a/b");
    assert.equal(debugfsQuote("/a b/c\td"), '"/a b/c\td"');
    assert.equal(debugfsQuote('/say "hi"'), '"/say ""hi"""');
    assert.equal(debugfsQuote(""), '""');
    assert.throws(() => debugfsQuote("/a\nb"), /not representable/);
    assert.throws(() => debugfsQuote("/a\0b"), /not representable/);
  });
});

describe("debugfs output", () => {
  it("debugfsErrors drops the banner and allowed lines", () => {
    const stderr =
      "debugfs 1.47.0 (5-Feb-2023)\n/x: File not found by ext2_lookup \nwrite: Ext2 file already exists \n";
    assert.deepEqual(debugfsErrors(stderr), [
      "/x: File not found by ext2_lookup",
      "write: Ext2 file already exists",
    ]);
    assert.deepEqual(debugfsErrors(stderr, [/File not found/]), ["write: Ext2 file already exists"]);
  });

  it("splits -f output into sections and reads the inode type", () => {
    const stdout = [
      "debugfs: stat /a",
      "Inode: 14   Type: regular    Mode:  0644   Flags: 0x80000",
      "debugfs: stat /nope",
      "debugfs: stat /dev/x",
      "Inode: 15   Type: character special    Mode:  0600   Flags: 0x0",
      "",
    ].join("\n");
    const s = debugfsSections(stdout);
    assert.deepEqual(
      s.map((x) => x.request),
      ["stat /a", "stat /nope", "stat /dev/x"],
    );
    assert.deepEqual(
      s.map((x) => debugfsStatType(x.output)),
      ["regular", null, "character special"],
    );
  });
});

describe("imagePath", () => {
  it("normalizes relative paths and refuses escapes", () => {
    assert.equal(imagePath(".ssh/authorized_keys"), "/.ssh/authorized_keys");
    assert.equal(imagePath("./a//b/./c"), "/a/b/c");
    assert.equal(imagePath("my dir/x"), "/my dir/x");
    assert.throws(() => imagePath("/etc/passwd"), /absolute/);
    assert.throws(() => imagePath("a/../../b"), /'\.\.'/);
    assert.throws(() => imagePath("a\0"), /NUL/);
    assert.throws(() => imagePath("a\rb"), /line break/);
    assert.throws(() => imagePath("./"), /names no file/);
  });

  it("lists parents", () => {
    assert.deepEqual(imageParents("/a/b/c"), ["/a", "/a/b"]);
    assert.deepEqual(imageParents("/a"), []);
  });
});

describe("debugfsWriteRequests", () => {
  const f = (target: string, mode = 0o600) => ({ target, hostFile: "/tmp/c 0", mode, uid: 0, gid: 0 });

  it("makes each missing parent once, removes existing targets, and sets mode with type bits", () => {
    const lines = debugfsWriteRequests(
      [f("/a/b/x"), f("/a/b/y", 0o4755)],
      new Map([
        ["/a", "directory"],
        ["/a/b/y", "symlink"],
      ]),
      (i) => `# file ${i}`,
    );
    assert.deepEqual(lines, [
      "# file 0",
      "mkdir /a/b",
      "sif /a/b mode 040700",
      "sif /a/b uid 0",
      "sif /a/b gid 0",
      'write "/tmp/c 0" /a/b/x',
      "sif /a/b/x mode 0100600",
      "sif /a/b/x uid 0",
      "sif /a/b/x gid 0",
      "# file 1",
      "rm /a/b/y",
      'write "/tmp/c 0" /a/b/y',
      "sif /a/b/y mode 0104755",
      "sif /a/b/y uid 0",
      "sif /a/b/y gid 0",
    ]);
  });

  it("writing one path twice removes the first copy", () => {
    const lines = debugfsWriteRequests([f("/k"), f("/k")], new Map());
    assert.deepEqual(
      lines.filter((l) => /^(rm|write)/.test(l)),
      ['write "/tmp/c 0" /k', "rm /k", 'write "/tmp/c 0" /k'],
    );
  });

  it("refuses a non-directory parent and a directory target", () => {
    assert.throws(
      () => debugfsWriteRequests([f("/a/x")], new Map([["/a", "regular"]])),
      /\/a exists and is a regular/,
    );
    assert.throws(
      () => debugfsWriteRequests([f("/a")], new Map([["/a", "directory"]])),
      /\/a exists and is a directory/,
    );
  });
});

describe("debugfsErrorsByFile", () => {
  it("names the file each error line follows, and ignores the banner and markers", () => {
    assert.equal(debugfsMarker("abc", 1), "stat /.banger-file-abc-1");
    const stderr = [
      "debugfs 1.47.0 (5-Feb-2023)",
      "/.banger-file-abc-0: File not found by ext2_lookup ",
      "/.banger-file-abc-1: File not found by ext2_lookup ",
      "write: Could not allocate block in ext2 filesystem ",
      "",
    ].join("\n");
    assert.deepEqual(debugfsErrorsByFile(stderr, "abc", ["a", "b"]), [
      "b: write: Could not allocate block in ext2 filesystem",
    ]);
    assert.deepEqual(debugfsErrorsByFile("debugfs: Bad magic number in super-block", "abc", ["a"]), [
      "debugfs: Bad magic number in super-block",
    ]);
  });
});
