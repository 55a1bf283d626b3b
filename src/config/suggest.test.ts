import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { didYouMean, levenshtein, suggest } from "./suggest.js";

describe("levenshtein", () => {
  it("counts edits", () => {
    assert.equal(levenshtein("", ""), 0);
    assert.equal(levenshtein("abc", ""), 3);
    assert.equal(levenshtein("", "abc"), 3);
    assert.equal(levenshtein("kitten", "sitting"), 3);
    assert.equal(levenshtein("log_levl", "log_level"), 1);
    assert.equal(levenshtein("subent", "subnet"), 2);
  });
});

describe("suggest", () => {
  const keys = ["log_level", "vmm", "network", "subnet", "bridge"];
  it("finds the nearest key", () => {
    assert.equal(suggest("log_levl", keys), "log_level");
    assert.equal(suggest("brige", keys), "bridge");
    assert.equal(suggest("subent", keys), "subnet");
    assert.equal(suggest("LOG_LEVEL", keys), "log_level");
    assert.equal(suggest("vm", keys), "vmm");
  });
  it("suggests nothing when nothing is close", () => {
    assert.equal(suggest("colour", keys), null);
    assert.equal(didYouMean("colour", keys), "");
  });
  it("formats the hint", () => {
    assert.equal(didYouMean("log_levl", keys), ' (did you mean "log_level"?)');
  });
});
