/** File modes: octal strings and 0o literals, and the decimal slip TypeScript invites. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { prop, PropertyCheckError } from "../../src/core/properties.js";

const mode = prop.mode();

test("octal strings and 0o numbers are the same mode", () => {
  assert.equal(mode.normalize("0644"), 0o644);
  assert.equal(mode.normalize("644"), 0o644);
  assert.equal(mode.normalize(0o644), 0o644);
  assert.equal(mode.normalize(0o4755), 0o4755);
  assert.equal(mode.normalize(0o1777), 0o1777);
});

test("a mode typed as a decimal number (644, 4755) is refused with the fix", () => {
  for (const slip of [640, 644, 755, 600, 700, 775, 4755]) {
    assert.throws(() => mode.normalize(slip), (error: Error) => error instanceof PropertyCheckError && error.message.includes(`"0${slip}"`), String(slip));
  }
});

test("nonsense is refused", () => {
  for (const bad of ["rw-r--r--", "0999", -1, 1.5, true]) assert.throws(() => mode.normalize(bad), PropertyCheckError, String(bad));
});
