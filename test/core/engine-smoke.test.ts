import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { convergeWith, scratch } from "../helpers.js";

test("a file converges, then the second run changes nothing", async () => {
  const dir = scratch();
  const path = join(dir, "motd");
  const declare = ({ file }: import("../../src/dsl.js").Resources) => {
    file(path, { content: "hello\n", mode: "0640" });
  };
  const first = await convergeWith(declare);
  assert.equal(first.result.status, "converged");
  assert.deepEqual(first.updated, [`file[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "hello\n");
  assert.equal(statSync(path).mode & 0o7777, 0o640);
  const second = await convergeWith(declare);
  assert.deepEqual(second.updated, []);
  assert.equal(second.result.counts.upToDate, 1);
});
