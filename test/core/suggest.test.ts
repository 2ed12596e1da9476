/** "Did you mean": the misspelled setting or property named with the one most likely meant. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { closestName, didYouMean } from "../../src/core/suggest.js";

test("a typo, a missing or extra letter, swapped letters or another case finds the name meant", () => {
  const settings = ["repository", "revision", "hosts", "deployTo", "linkedFiles", "linkedDirs", "keepReleases", "healthCheck"];
  assert.equal(closestName("linkedDir", settings), "linkedDirs");
  assert.equal(closestName("repsoitory", settings), "repository");
  assert.equal(closestName("deployto", settings), "deployTo");
  assert.equal(closestName("keepRelease", settings), "keepReleases");
  assert.equal(closestName("helthcheck", settings), "healthCheck");
  assert.equal(didYouMean("host", settings), " (did you mean hosts?)");
});

test("a name near none of them gets no suggestion", () => {
  assert.equal(closestName("colour", ["root", "port", "secret"]), undefined);
  assert.equal(closestName("x", ["mode", "owner"]), undefined);
  assert.equal(didYouMean("banana", ["repository", "hosts"]), "");
});
