/** `code`: a function as a resource, with the engine's guards. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

test("code runs its block with the host, guarded so that the second run changes nothing", async () => {
  const dir = scratch();
  const marker = join(dir, "seeded");
  let calls = 0;
  const declare = ({ code }: Resources) =>
    void code("seed", {
      notIf: ["test", "-e", marker],
      block: async ({ host, log }) => {
        calls += 1;
        await host.writeFileAtomic(marker, "seeded\n");
        log("seeded the database");
      },
    });
  const { first, second } = await convergeTwice(declare, ["code[seed]"]);
  assert.equal(calls, 1);
  assert.equal(readFileSync(marker, "utf8"), "seeded\n");
  assert.ok(eventsOf(first.events, "log").some((e) => e.resource === "code[seed]" && e.message === "seeded the database"));
  assert.equal(eventsOf(second.events, "resource:skipped")[0]?.guard, "notIf");
});

test("code with an onlyIf function runs only when it returns true", async () => {
  let state = "stale";
  const declare = ({ code }: Resources) => void code("refresh", { onlyIf: () => state === "stale", block: () => void (state = "fresh") });
  await convergeTwice(declare, ["code[refresh]"]);
  assert.equal(state, "fresh");
});

test("a code block that throws fails the run with its message", async () => {
  const dir = scratch();
  const { result, events } = await convergeWith(({ code, file }) => {
    code("broken", { block: async () => Promise.reject(new Error("database unreachable")) });
    file(join(dir, "after"), { content: "x" });
  });
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /database unreachable/);
  assert.equal(existsSync(join(dir, "after")), false);
});

test("a code block with action nothing runs only when notified", async () => {
  const dir = scratch();
  let calls = 0;
  const declare = ({ code, file }: Resources) => {
    const reload = code("reload", { action: "nothing", block: () => void (calls += 1) });
    file(join(dir, "conf"), { content: "v1", notifies: { run: reload } });
  };
  await convergeTwice(declare, [`file[${join(dir, "conf")}]`, "code[reload]"]);
  assert.equal(calls, 1);
});
