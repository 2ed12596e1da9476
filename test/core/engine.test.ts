/**
 * The converge engine as a recipe author sees it: validation and duplicates reported with
 * file:line, ordering edges and cycles, notifications, guards, retries, ignoreFailure and a
 * failing resource that stops the run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../../src/core/errors.js";
import { convergeWith, eventsOf, lineHere, scratch } from "../helpers.js";

const thisFile = fileURLToPath(import.meta.url);

async function validationErrorOf(promise: Promise<unknown>): Promise<ValidationError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the run to be refused with a ValidationError");
}

test("a duplicate resource names both declaration sites", async () => {
  const dir = scratch();
  const path = join(dir, "motd");
  const lines: number[] = [];
  const error = await validationErrorOf(
    convergeWith(({ file }) => {
      file(path, { content: "a" }); lines.push(lineHere());
      file(path, { content: "b" }); lines.push(lineHere());
    }),
  );
  assert.equal(error.problems.length, 1);
  assert.match(error.message, new RegExp(`file\\[${path}\\]: declared twice`));
  assert.ok(error.message.includes(`first at ${thisFile}:${lines[0]}`), error.message);
  assert.ok(error.message.includes(`again at ${thisFile}:${lines[1]}`), error.message);
  assert.equal(existsSync(path), false, "nothing is changed when the run is refused");
});

test("every validation problem of every resource is reported together, each with file:line and type[name].property", async () => {
  const dir = scratch();
  const lines: number[] = [];
  const error = await validationErrorOf(
    convergeWith(({ file, directory, link, template, execute, code }) => {
      file(join(dir, "a"), { content: "x", mode: "0999" }); lines.push(lineHere());
      directory(join(dir, "d"), { owner: "not a user!" }); lines.push(lineHere());
      link(join(dir, "l"), { to: "" }); lines.push(lineHere());
      template(join(dir, "t"), {}); lines.push(lineHere());
      execute("ok", { returns: "0" as never, timeout: -1 }); lines.push(lineHere());
      code("c", { block: 5 as never, retries: -1, colour: "blue" } as never); lines.push(lineHere());
    }),
  );
  const expected: Array<[number, string]> = [
    [0, `file[${join(dir, "a")}].mode`],
    [1, `directory[${join(dir, "d")}].owner`],
    [2, `link[${join(dir, "l")}].to`],
    [3, `template[${join(dir, "t")}].source`],
    [4, "execute[ok].returns"],
    [4, "execute[ok].timeout"],
    [5, "code[c].block"],
    [5, "code[c].retries"],
    [5, "code[c].colour"],
  ];
  for (const [index, path] of expected) {
    assert.ok(error.message.includes(`${thisFile}:${lines[index]} ${path}: `), `missing ${path} at line ${lines[index]} in:\n${error.message}`);
  }
  assert.equal(error.problems.length, expected.length, error.message);
  assert.equal(existsSync(join(dir, "a")), false);
});

test("requires and before move resources only as the edges require", async () => {
  const ran: string[] = [];
  const step = (name: string) => ({ block: () => void ran.push(name) });
  await convergeWith(({ code }) => {
    code("a", step("a"));
    code("b", { ...step("b"), requires: "code[c]" });
    code("c", step("c"));
  });
  assert.deepEqual(ran, ["a", "c", "b"]);

  ran.length = 0;
  await convergeWith(({ code }) => {
    const first = code("first", step("first"));
    code("second", { ...step("second"), before: first });
  });
  assert.deepEqual(ran, ["second", "first"]);
});

test("a dependency cycle is an error naming every member with its file:line", async () => {
  const lines: number[] = [];
  const error = await validationErrorOf(
    convergeWith(({ code }) => {
      code("a", { block: () => {}, requires: "code[c]" }); lines.push(lineHere());
      code("b", { block: () => {}, requires: "code[a]" }); lines.push(lineHere());
      code("c", { block: () => {}, requires: "code[b]" }); lines.push(lineHere());
      code("outside", { block: () => {} });
    }),
  );
  assert.match(error.message, /dependency cycle/);
  for (const [index, name] of ["a", "b", "c"].entries()) {
    assert.ok(error.message.includes(`code[${name}] (${thisFile}:${lines[index]})`), error.message);
  }
  assert.doesNotMatch(error.message, /code\[outside\]/);
});

test("a reference to an undeclared resource is reported with the referring property", async () => {
  let line = 0;
  const error = await validationErrorOf(
    convergeWith(({ code }) => {
      code("a", { block: () => {}, notifies: { run: "code[missing]" } }); line = lineHere();
    }),
  );
  assert.ok(error.message.includes(`${thisFile}:${line} code[a].notifies: refers to code[missing], which no recipe in this run declares`), error.message);
});

test("an immediate notification (notifies or subscribes) runs right after its source, before the next resource", async () => {
  const dir = scratch();
  const ran: string[] = [];
  const { events } = await convergeWith(({ file, code }) => {
    const restart = code("restart", { action: "nothing", block: () => void ran.push("restart") });
    file(join(dir, "conf"), { content: "x", notifies: { run: { target: restart, timing: "immediately" } } });
    code("next", { block: () => void ran.push("next") });
    code("watcher", { action: "nothing", block: () => void ran.push("watcher"), subscribes: { run: { target: "code[next]", timing: "immediately" } } });
    code("last", { block: () => void ran.push("last") });
  });
  assert.deepEqual(ran, ["restart", "next", "watcher", "last"]);
  const restart = eventsOf(events, "resource:updated").find((e) => e.resource.id === "code[restart]");
  assert.equal(restart?.notifiedBy, `file[${join(dir, "conf")}]`);
});

test("delayed notifications run once each at the end, in the order they were queued; subscribes works the same", async () => {
  const dir = scratch();
  const ran: string[] = [];
  const declare = ({ file, code }: import("../../src/dsl.js").Resources) => {
    const reload = code("reload", { action: "nothing", block: () => void ran.push("reload") });
    const restart = code("restart", { action: "nothing", block: () => void ran.push("restart") });
    file(join(dir, "one"), { content: "1", notifies: { run: restart } });
    file(join(dir, "two"), { content: "2", notifies: { run: [reload, restart] } });
    code("audit", { action: "nothing", block: () => void ran.push("audit"), subscribes: { run: `file[${join(dir, "one")}]` } });
    code("last", { block: () => void ran.push("last"), notIf: () => ran.includes("last") });
  };
  const first = await convergeWith(declare);
  // file one queues restart, then audit (its subscriber); file two adds reload (restart is already queued).
  assert.deepEqual(ran, ["last", "restart", "audit", "reload"]);
  assert.equal(first.result.status, "converged");

  ran.length = 0;
  ran.push("last"); // the guard of "last" now skips it
  const second = await convergeWith(declare);
  assert.deepEqual(ran, ["last"], "nothing is notified when the sources are up to date");
  assert.equal(second.result.counts.updated, 0);
});

test("run:finish counts every resource once, also when notifications run actions on it", async () => {
  const dir = scratch();
  const { events, result } = await convergeWith(({ file, code }) => {
    const restart = code("restart", { action: "nothing", block: () => {} });
    const skipped = code("skipped", { action: "nothing", block: () => {}, onlyIf: () => false });
    file(join(dir, "a"), { content: "a", notifies: { run: [restart, skipped] } });
    file(join(dir, "b"), { content: "b", notifies: { run: { target: restart, timing: "immediately" } } });
    code("unchanged", { action: "nothing", block: () => {} });
  });
  const finish = eventsOf(events, "run:finish")[0]!;
  assert.deepEqual(finish.counts, result.counts);
  assert.equal(result.counts.resources, 5);
  const { updated, upToDate, skipped, failed } = result.counts;
  assert.equal(updated + upToDate + skipped + failed, 5, JSON.stringify(result.counts));
  assert.equal(updated, 3, "two files and the restarted code block");
  assert.equal(skipped, 1);
  assert.equal(upToDate, 1);
});

test("guards are evaluated for notified actions too", async () => {
  const dir = scratch();
  const ran: string[] = [];
  const { events } = await convergeWith(({ file, code }) => {
    const guarded = code("guarded", { action: "nothing", block: () => void ran.push("guarded"), notIf: ["test", "-e", join(dir, "conf")] });
    const immediate = code("immediate", { action: "nothing", block: () => void ran.push("immediate"), onlyIf: `test -e ${join(dir, "absent")}` });
    file(join(dir, "conf"), { content: "x", notifies: [{ action: "run", target: guarded }, { action: "run", target: immediate, timing: "immediately" }] });
  });
  assert.deepEqual(ran, []);
  assert.equal(eventsOf(events, "resource:skipped").length, 2);
});

test("onlyIf and notIf accept a shell string, an argv array and a function", async () => {
  const dir = scratch();
  const marker = join(dir, "marker");
  writeFileSync(marker, "");
  const ran: string[] = [];
  const block = (name: string) => () => void ran.push(name);
  const { events } = await convergeWith(({ code }) => {
    code("onlyIf string true", { block: block("a"), onlyIf: `test -e '${marker}'` });
    code("onlyIf string false", { block: block("b"), onlyIf: `test -e '${marker}.no'` });
    code("onlyIf argv true", { block: block("c"), onlyIf: ["test", "-e", marker] });
    code("onlyIf argv false", { block: block("d"), onlyIf: ["false"] });
    code("onlyIf function true", { block: block("e"), onlyIf: async () => true });
    code("onlyIf function false", { block: block("f"), onlyIf: () => false });
    code("notIf string true", { block: block("g"), notIf: "true" });
    code("notIf string false", { block: block("h"), notIf: "exit 3" });
    code("notIf argv true", { block: block("i"), notIf: ["test", "-e", marker] });
    code("notIf argv false", { block: block("j"), notIf: ["test", "-e", `${marker}.no`] });
    code("notIf function true", { block: block("k"), notIf: () => true });
    code("notIf function false", { block: block("l"), notIf: async () => false });
  });
  assert.deepEqual(ran, ["a", "c", "e", "h", "j", "l"]);
  const skipped = eventsOf(events, "resource:skipped");
  assert.deepEqual(
    skipped.map((e) => [e.resource.name, e.guard]),
    [
      ["onlyIf string false", "onlyIf"],
      ["onlyIf argv false", "onlyIf"],
      ["onlyIf function false", "onlyIf"],
      ["notIf string true", "notIf"],
      ["notIf argv true", "notIf"],
      ["notIf function true", "notIf"],
    ],
  );
  assert.match(skipped[0]!.reason, /marker\.no/);
});

test("retries try again after a failure, with the given delay", async () => {
  let calls = 0;
  const { events, result } = await convergeWith(({ code }) => {
    code("flaky", {
      retries: 2,
      retryDelay: 0,
      block: () => {
        calls += 1;
        if (calls < 3) throw new Error(`attempt ${calls} failed`);
      },
    });
  });
  assert.equal(result.status, "converged");
  assert.equal(calls, 3);
  assert.deepEqual(
    eventsOf(events, "resource:retry").map((e) => [e.attempt, e.error]),
    [
      [1, "attempt 1 failed"],
      [2, "attempt 2 failed"],
    ],
  );

  let tries = 0;
  const failing = await convergeWith(({ code }) => {
    code("always", { retries: 1, retryDelay: 0, block: () => void (tries += 1, assert.fail("never works")) });
  });
  assert.equal(tries, 2);
  assert.equal(failing.result.status, "failed");
});

test("ignoreFailure reports the failure and the run goes on", async () => {
  const ran: string[] = [];
  const { events, result } = await convergeWith(({ code }) => {
    code("broken", { ignoreFailure: true, block: () => assert.fail("broken on purpose") });
    code("after", { block: () => void ran.push("after") });
  });
  assert.deepEqual(ran, ["after"]);
  assert.equal(result.status, "converged");
  assert.equal(result.counts.failed, 1);
  const failed = eventsOf(events, "resource:failed")[0]!;
  assert.equal(failed.ignored, true);
  assert.match(failed.error.message, /broken on purpose/);
});

test("a failing resource stops the run: later resources do not run, and the failure names the command, exit code, stderr and file:line", async () => {
  const dir = scratch();
  let line = 0;
  const { events, result } = await convergeWith(({ execute, file }) => {
    execute("fails", { command: ["sh", "-c", "echo to-stdout; echo went-wrong >&2; exit 3"] }); line = lineHere();
    file(join(dir, "later"), { content: "never" });
  });
  assert.equal(result.status, "failed");
  assert.equal(existsSync(join(dir, "later")), false);
  const failed = eventsOf(events, "resource:failed")[0]!;
  assert.equal(failed.resource.location?.line, line);
  assert.equal(failed.error.exitCode, 3);
  assert.match(failed.error.command ?? "", /echo went-wrong/);
  assert.match(failed.error.stderr ?? "", /went-wrong/);
  assert.match(failed.error.stdout ?? "", /to-stdout/);
  const finish = eventsOf(events, "run:finish")[0]!;
  assert.equal(finish.status, "failed");
  assert.equal(finish.error?.resource, "execute[fails]");
  assert.equal(finish.error?.location?.file, thisFile);
  assert.equal(finish.error?.location?.line, line);
});

test("a failure in an immediately notified resource stops the run too", async () => {
  const dir = scratch();
  const { result } = await convergeWith(({ file, code }) => {
    const broken = code("broken", { action: "nothing", block: () => assert.fail("broken on purpose") });
    file(join(dir, "conf"), { content: "x", notifies: { run: { target: broken, timing: "immediately" } } });
    file(join(dir, "later"), { content: "never" });
  });
  assert.equal(result.status, "failed");
  assert.equal(existsSync(join(dir, "later")), false, "a resource after the failure ran");
});

test("when a delayed notification fails, the ones not yet run are reported as pending", async () => {
  const dir = scratch();
  const ran: string[] = [];
  const { events, result } = await convergeWith(({ file, code }) => {
    const broken = code("broken", { action: "nothing", block: () => assert.fail("broken on purpose") });
    const restart = code("restart", { action: "nothing", block: () => void ran.push("restart") });
    file(join(dir, "conf"), { content: "x", notifies: { run: [broken, restart] } });
  });
  assert.equal(result.status, "failed");
  assert.deepEqual(ran, []);
  const finish = eventsOf(events, "run:finish")[0]!;
  assert.deepEqual(finish.pendingNotifications, [`run code[restart] (from file[${join(dir, "conf")}])`]);
});

test("the run:finish event of a failed run still carries the counts of what happened", async () => {
  const dir = scratch();
  const { result } = await convergeWith(({ file, code }) => {
    file(join(dir, "a"), { content: "a" });
    code("broken", { block: () => assert.fail("broken on purpose") });
    file(join(dir, "b"), { content: "b" });
  });
  assert.equal(result.counts.updated, 1);
  assert.equal(result.counts.failed, 1);
  assert.equal(readFileSync(join(dir, "a"), "utf8"), "a");
});

test("an endless loop of immediate notifications fails the run instead of running forever", async () => {
  let calls = 0;
  const block = () => {
    calls += 1;
    if (calls > 1000) throw new Error("still looping after 1000 runs");
  };
  const { result, events } = await convergeWith(({ code }) => {
    code("ping", { action: "nothing", block, notifies: { run: { target: "code[pong]", timing: "immediately" } } });
    code("pong", { action: "nothing", block, notifies: { run: { target: "code[ping]", timing: "immediately" } } });
    code("start", { block: () => {}, notifies: { run: { target: "code[ping]", timing: "immediately" } } });
  });
  assert.equal(result.status, "failed");
  const failure = eventsOf(events, "run:finish")[0]!.error!;
  assert.equal(failure.code, "notification-loop");
  assert.match(failure.message, /run code\[ping\] → run code\[pong\] → run code\[ping\]/);
  assert.ok(calls < 1000);
});

test("an endless loop of delayed notifications fails the run instead of converging", async () => {
  let calls = 0;
  const { result, events } = await convergeWith(({ code }) => {
    code("ping", { action: "nothing", block: () => void (calls += 1), notifies: { run: "code[pong]" } });
    code("pong", { action: "nothing", block: () => void (calls += 1), notifies: { run: "code[ping]" } });
    code("start", { block: () => {}, notifies: { run: "code[ping]" } });
  });
  assert.equal(result.status, "failed");
  const finish = eventsOf(events, "run:finish")[0]!;
  assert.equal(finish.error?.code, "notification-loop");
  assert.match(finish.error?.message ?? "", /code\[p[io]ng\]/);
  assert.ok(calls <= 200, `ran ${calls} notified actions`);
});
