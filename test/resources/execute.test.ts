/** `execute` on this machine: argv and shell, cwd, environment, user/group, creates, returns, timeout, failures. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

test("execute with creates runs once, then is up to date", async () => {
  const dir = scratch();
  const marker = join(dir, "installed");
  await convergeTwice(({ execute }) => void execute("install", { command: ["sh", "-c", `echo done > '${marker}'`], creates: marker }), ["execute[install]"]);
  assert.equal(readFileSync(marker, "utf8"), "done\n");
});

test("execute runs an argv command without a shell, and a shell string through sh -c", async () => {
  const dir = scratch();
  const argvOut = join(dir, "argv");
  const shellOut = join(dir, "shell");
  await convergeTwice(
    ({ execute }) => {
      execute("argv", { command: ["touch", join(dir, "a file with $HOME; and spaces")], creates: join(dir, "a file with $HOME; and spaces") });
      execute("argv echo", { command: ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", "$HOME `id`", argvOut], creates: argvOut });
      execute(`echo "$((6 * 7))" > '${shellOut}'`, { creates: shellOut });
    },
    ["execute[argv]", "execute[argv echo]", `execute[echo "$((6 * 7))" > '${shellOut}']`],
  );
  assert.ok(statSync(join(dir, "a file with $HOME; and spaces")).isFile(), "argv words are passed as they are");
  assert.equal(readFileSync(argvOut, "utf8"), "$HOME `id`");
  assert.equal(readFileSync(shellOut, "utf8"), "42\n", "the resource name is the shell command when no command is given");
});

test("execute honours cwd and environment", async () => {
  const dir = scratch();
  const out = join(dir, "out");
  await convergeTwice(
    ({ execute }) => void execute("env", { command: 'echo "$(pwd) $GREETING" > out', cwd: dir, environment: { GREETING: "hello there" }, creates: out }),
    ["execute[env]"],
  );
  assert.equal(readFileSync(out, "utf8"), `${dir} hello there\n`);
});

test("execute runs as another user and group", async () => {
  const dir = scratch();
  chmodSync(dir, 0o777);
  const out = join(dir, "ids");
  await convergeTwice(({ execute }) => void execute("whoami", { command: `id -u > '${out}'; id -g >> '${out}'`, user: "nobody", group: "nogroup", creates: out }), ["execute[whoami]"]);
  assert.equal(readFileSync(out, "utf8"), "65534\n65534\n");
  assert.equal(statSync(out).uid, 65534);

  const byId = join(dir, "ids-by-number");
  await convergeTwice(({ execute }) => void execute("by id", { command: ["sh", "-c", `id -u > '${byId}'`], user: 65534, creates: byId }), ["execute[by id]"]);
  assert.equal(readFileSync(byId, "utf8"), "65534\n");
});

test("execute accepts the listed exit codes and fails on others", async () => {
  const accepted = await convergeWith(({ execute }) => void execute("exit 3", { returns: [0, 3] }));
  assert.equal(accepted.result.status, "converged");
  assert.deepEqual(accepted.updated, ["execute[exit 3]"]);

  const refused = await convergeWith(({ execute }) => void execute("exit 0", { returns: [1] }));
  assert.equal(refused.result.status, "failed");
  assert.equal(eventsOf(refused.events, "resource:failed")[0]!.error.exitCode, 0);
});

test("a failing execute reports the command, exit code, stdout and stderr", async () => {
  const { result, events } = await convergeWith(({ execute }) => void execute("migrate", { command: ["sh", "-c", "echo step 1; echo 'relation users does not exist' >&2; exit 42"] }));
  assert.equal(result.status, "failed");
  const error = eventsOf(events, "resource:failed")[0]!.error;
  assert.equal(error.exitCode, 42);
  assert.match(error.command ?? "", /^sh -c .*exit 42/);
  assert.match(error.message, /exited with code 42/);
  assert.match(error.stderr ?? "", /relation users does not exist/);
  assert.match(error.stdout ?? "", /step 1/);
});

test("a command that runs past its timeout is killed and fails", async () => {
  const { result, events } = await convergeWith(({ execute }) => void execute("slow", { command: ["sleep", "30"], timeout: 0.3 }));
  assert.equal(result.status, "failed");
  assert.match(eventsOf(events, "resource:failed")[0]!.error.message, /timed out/);
});

test("a command that cannot start fails with a message", async () => {
  const { result, events } = await convergeWith(({ execute }) => void execute("missing", { command: ["/nonexistent/sous-tool", "x"] }));
  assert.equal(result.status, "failed");
  assert.match(JSON.stringify(eventsOf(events, "resource:failed")[0]!.error), /ENOENT|not found/);
});


test("an execute's command guards run in its cwd, with its environment, as its user (as Chef's guards inherit them)", async () => {
  const dir = scratch();
  chmodSync(dir, 0o777);
  const out = join(dir, "ran");
  const declare = ({ execute }: import("../../src/dsl.js").Resources) =>
    void execute("guarded", {
      command: ["touch", out],
      cwd: dir,
      environment: { STAGE: "production" },
      user: "nobody",
      onlyIf: ["sh", "-c", 'test "$(id -u)" = 65534 && test "$STAGE" = production'],
      notIf: "test -e ran",
    });
  const { second } = await convergeTwice(declare, ["execute[guarded]"]);
  assert.equal(statSync(out).uid, 65534);
  assert.equal(eventsOf(second.events, "resource:skipped")[0]?.guard, "notIf", "the relative path in notIf is found in cwd");
});

test("execute creates may be relative to cwd, and a relative creates without cwd is a validation problem", async () => {
  const dir = scratch();
  await convergeTwice(({ execute }) => void execute("build", { command: "touch out.bin", cwd: dir, creates: "out.bin" }), ["execute[build]"]);
  assert.ok(statSync(join(dir, "out.bin")).isFile());
  await assert.rejects(
    convergeWith(({ execute }) => void execute("build", { command: "true", creates: "out.bin" })),
    /execute\[build\]\.creates: a relative path needs cwd/,
  );
});
