// sous test --machine and sous machine as a cookbook author uses them, on real disposable
// machines (two at most, one at a time): the scaffolded cookbook converges twice and passes
// its verify checks; the same cookbook broken (a mode changed, a command that always runs)
// fails both tiers, in memory and on the machine, saying why; sous machine up/ssh/down.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { scratch, sous } from "../helpers.js";
import { keptMachines, machinesUnavailable } from "../../src/machine/machines.js";

const skip = machinesUnavailable() ?? false;

test("sous test --machine converges twice and verifies; a broken recipe fails both tiers with what broke", { skip, timeout: 300_000 }, async () => {
  const root = join(scratch("sous-machine-test-"), "infra");
  assert.equal((await sous("init", root)).code, 0);
  assert.equal((await sous("cookbook", "create", "web", "--repo", root)).code, 0);

  const passing = await sous("test", "web", "--machine", "--repo", root);
  assert.equal(passing.code, 0, passing.stdout + passing.stderr);
  assert.match(passing.stdout, /web: converge 1 of 2 \(recipe\[web\]\)\n\s+Converging test-web: 3 resources/);
  assert.match(passing.stdout, /↻ template\[.*\/sous-web\/motd\] created/);
  assert.match(passing.stdout, /web: the second converge changed nothing/);
  assert.match(passing.stdout, /✔ the motd is written, readable by everyone/);
  assert.match(passing.stdout, /Machine tests passed: 1 cookbook converged twice and verified/);
  // The machine is gone, and this machine's /tmp never saw the recipe.
  assert.equal(keptMachines().some((m) => m.hostname === "test-web"), false);
  assert.throws(() => readFileSync(join(homedir(), "sous-web", "motd")), /ENOENT/);

  const recipe = join(root, "cookbooks/web/recipes/default.ts");
  writeFileSync(
    recipe,
    readFileSync(recipe, "utf8")
      .replace('mode: "0644",', 'mode: "0600",')
      .replace("  execute(", '  execute("stamp", { command: ["sh", "-c", "date > /tmp/stamp"] });\n  execute('),
  );
  const inMemory = await sous("test", "web", "--repo", root);
  assert.equal(inMemory.code, 1);
  assert.match(inMemory.stdout, /template\[\/srv\/web\/motd\] \(.*recipes\/default\.ts:\d+\):\n\s+mode: expected "0644", got "0600"/);
  const onMachine = await sous("test", "web", "--machine", "--repo", root);
  assert.equal(onMachine.code, 1);
  assert.match(onMachine.stdout, /Machine tests failed/);
  assert.match(onMachine.stdout, /web: the second converge changed 1 resource \(it must change nothing\): execute\[stamp\]/);
  assert.match(onMachine.stdout, /✖ the motd is written, readable by everyone/);
  assert.match(onMachine.stdout, /'0600' !== '0644'|"0600" !== "0644"|0600/);
  assert.match(onMachine.stdout, /web: verify checks failed/);
  assert.equal(keptMachines().some((m) => m.hostname === "test-web"), false);
});

test("sous machine up NAME, list, ssh NAME COMMAND, down NAME", { skip, timeout: 120_000 }, async () => {
  const name = `try-${process.pid}`;
  try {
    const up = await sous("machine", "up", name);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, new RegExp(`${name}\\s+ssh://root@127\\.0\\.\\d+\\.1\\s+nsenter://\\d+`));
    const listed = JSON.parse((await sous("machine", "list", "--json")).stdout) as Array<{ name: string; target: string; key: string }>;
    const entry = listed.find((m) => m.name === name);
    assert.ok(entry, JSON.stringify(listed));
    const again = await sous("machine", "up", name);
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`a machine named ${name} is already up`));
    assert.equal((await sous("machine", "ssh", name, "test", "-s", "/etc/hostname")).code, 0);
    assert.equal((await sous("machine", "ssh", name, "test", "-e", "/nonexistent")).code, 1, "the remote command's status is sous's");
    // Converge it over SSH as a push target, with the key and known_hosts it was made with.
    const repo = join(scratch("sous-machine-repo-"), "infra");
    await sous("init", repo);
    const setDir = join(entry.key, "..", "..");
    const pushed = await sous("converge", entry.target, "-k", entry.key, "--known-hosts", join(setDir, "known_hosts"), "--repo", repo, "-r", "recipe[hello]");
    assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
  } finally {
    const down = await sous("machine", "down", name);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /Stopped 1 machine/);
  }
  assert.equal(keptMachines().some((m) => m.hostname === name), false);
  const missing = await sous("machine", "down", name);
  assert.equal(missing.code, 2);
});
