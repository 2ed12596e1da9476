// `npm test`'s first step (scripts/test-preflight.mjs) with a package list of its own: nothing
// when every package is there; as root, one apt-get install of only what is missing (observed
// through an apt-get placed first on PATH); otherwise a stop naming the packages and the command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot, scratch } from "../helpers.js";

const script = join(projectRoot, "scripts", "test-preflight.mjs");
// Installed on every Debian machine (essential packages), and a name no archive has.
const present = ["bash", "coreutils"];
const absent = "sous-test-no-such-package";

/** A folder with a list file and stand-ins for apt-get (logs its arguments, "installs" by a marker) and dpkg-query (the real one, plus the marked packages). */
function fakeApt(packages: string[]): { dir: string; list: string; log: string } {
  const dir = scratch("sous-preflight-");
  // Readable by `nobody` too, for the test that runs as another user.
  chmodSync(dir, 0o755);
  const list = join(dir, "apt-packages.txt");
  const log = join(dir, "apt-get.log");
  writeFileSync(list, `# a comment\n${packages.join("\n")}\n\n`);
  writeFileSync(
    join(dir, "apt-get"),
    `#!/bin/sh\necho "$*" >> ${log}\nif [ "$1" = install ]; then shift 3; for p in "$@"; do touch ${dir}/installed-$p; done; fi\n`,
  );
  writeFileSync(
    join(dir, "dpkg-query"),
    `#!/bin/sh\n/usr/bin/dpkg-query "$@"; status=$?\nfor m in ${dir}/installed-*; do [ -e "$m" ] && echo "\${m#${dir}/installed-} install ok installed"; done\nexit $status\n`,
  );
  chmodSync(join(dir, "apt-get"), 0o755);
  chmodSync(join(dir, "dpkg-query"), 0o755);
  return { dir, list, log };
}

function preflight(list: string, options: { path?: string; asNobody?: boolean } = {}) {
  const env = { ...process.env, SOUS_APT_PACKAGES_FILE: list, PATH: options.path ?? process.env.PATH };
  const argv = options.asNobody ? ["runuser", "-u", "nobody", "--", process.execPath, script] : [process.execPath, script];
  return spawnSync(argv[0]!, argv.slice(1), { env, encoding: "utf8" });
}

test("every package of the list installed: no output, exit 0, apt-get never called", () => {
  const { dir, list, log } = fakeApt(present);
  const run = preflight(list, { path: `${dir}:${process.env.PATH}` });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout + run.stderr, "");
  assert.equal(existsSync(log), false);
});

test("as root with apt: one line saying what is missing, apt-get update (no candidate), then one install of only the missing package", { skip: process.getuid?.() !== 0 ? "needs root" : false }, () => {
  const { dir, list, log } = fakeApt([...present, absent]);
  const run = preflight(list, { path: `${dir}:${process.env.PATH}` });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), `npm test: installing 1 missing Debian package the tests need (${list}): ${absent}`);
  assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), ["update -q", `install -y -q ${absent}`]);
  // Now present: the next run says nothing.
  const again = preflight(list, { path: `${dir}:${process.env.PATH}` });
  assert.equal(again.status, 0);
  assert.equal(again.stdout + again.stderr, "");
  assert.equal(readFileSync(log, "utf8").trim().split("\n").length, 2);
});

test("as root, an install that leaves the package missing stops with its name", { skip: process.getuid?.() !== 0 ? "needs root" : false }, () => {
  const { dir, list } = fakeApt([absent]);
  // apt-get "succeeds" but installs nothing: only the real dpkg-query answers.
  writeFileSync(join(dir, "dpkg-query"), "#!/bin/sh\nexec /usr/bin/dpkg-query \"$@\"\n");
  const run = preflight(list, { path: `${dir}:${process.env.PATH}` });
  assert.equal(run.status, 1);
  assert.match(run.stderr, new RegExp(`still not installed after apt-get install: ${absent}`));
});

test("not root: stops before anything, naming the missing packages and the command that installs them; apt-get is not called", { skip: process.getuid?.() !== 0 ? "needs root to switch to nobody" : false }, () => {
  const { dir, list, log } = fakeApt([...present, absent, `${absent}-2`]);
  const run = preflight(list, { path: `${dir}:${process.env.PATH}`, asNobody: true });
  assert.equal(run.status, 1);
  assert.match(run.stderr, new RegExp(`2 Debian packages the tests need are not installed: ${absent} ${absent}-2`));
  assert.ok(run.stderr.includes(`sudo apt-get update && sudo apt-get install -y ${absent} ${absent}-2`), run.stderr);
  assert.equal(existsSync(log), false);
});

test("no apt-get on the machine: stops, naming the packages", () => {
  const { list } = fakeApt([absent]);
  // An empty folder as PATH: no dpkg-query, no apt-get (node is started by its full path).
  const run = preflight(list, { path: scratch("sous-preflight-path-") });
  assert.equal(run.status, 1);
  assert.match(run.stderr, new RegExp(`1 Debian package the tests need is not installed: ${absent}`));
  assert.match(run.stderr, /no apt-get/);
});
