import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { ARCHIVE_MARKER_DIR, strippedEntry } from "../../src/resources/archive.js";
import { convergeWith, scratch } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";
import { changedProperties, leftoverOf } from "../support/leftovers.js";

const box = createDisposableRoot();
const host = box.host;

// A release tree packed in every supported format, under /srv/archives inside the root.
const work = scratch("sous-archive-");
const tree = join(work, "app-1.0");
mkdirSync(join(tree, "bin"), { recursive: true });
writeFileSync(join(tree, "README"), "version 1.0\n");
writeFileSync(join(tree, "bin/app"), "#!/bin/sh\necho app\n", { mode: 0o755 });
const archives = box.path("/srv/archives");
mkdirSync(archives, { recursive: true });
for (const [name, flag] of [["app.tar.gz", "-z"], ["app.tar.xz", "-J"], ["app.tar.bz2", "-j"], ["app.tar", ""]] as const) {
  execFileSync("tar", ["-c", ...(flag ? [flag] : []), "-f", join(archives, name), "-C", work, "app-1.0"]);
}
execFileSync("zip", ["-q", "-r", join(archives, "app.zip"), "app-1.0"], { cwd: work });

test("a tar.gz is extracted once, stripped and owned as declared; the second run changes nothing", async () => {
  const declare = ({ archive }: Resources) => void archive("/srv/archives/app.tar.gz", { destination: "/opt/app", stripComponents: 1, owner: "nobody", group: "nogroup" });
  const before = box.digest();
  assert.deepEqual((await convergeWith(declare, { host, dryRun: true })).updated, ["archive[/srv/archives/app.tar.gz]"]);
  assert.equal(box.digest(), before, "a dry run changes nothing");
  const first = await convergeWith(declare, { host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.filter((e) => e.type === "resource:failed")));
  assert.equal(readFileSync(box.path("/opt/app/README"), "utf8"), "version 1.0\n");
  const bin = statSync(box.path("/opt/app/bin/app"));
  assert.deepEqual([bin.mode & 0o777, bin.uid, statSync(box.path("/opt/app/bin")).uid], [0o755, 65534, 65534]);
  assert.equal(existsSync("/opt/app/README"), false, "this machine is untouched");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("a changed archive, or extracted files that went away, extract again", async () => {
  const declare = ({ archive }: Resources) => void archive("/srv/archives/app.tar.gz", { destination: "/opt/app", stripComponents: 1, owner: "nobody", group: "nogroup" });
  rmSync(box.path("/opt/app/bin"), { recursive: true });
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["archive[/srv/archives/app.tar.gz]"]);
  assert.ok(existsSync(box.path("/opt/app/bin/app")));

  writeFileSync(join(tree, "README"), "version 1.1\n");
  execFileSync("tar", ["-c", "-z", "-f", join(archives, "app.tar.gz"), "-C", work, "app-1.0"]);
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["archive[/srv/archives/app.tar.gz]"]);
  assert.equal(readFileSync(box.path("/opt/app/README"), "utf8"), "version 1.1\n");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
  writeFileSync(join(tree, "README"), "version 1.0\n");
});

test("xz, bz2, plain tar and zip (with and without stripping) all extract, each once", async () => {
  for (const [name, strip, check] of [
    ["app.tar.xz", 1, "/opt/xz/README"],
    ["app.tar.bz2", 1, "/opt/bz2/README"],
    ["app.tar", 0, "/opt/plain/app-1.0/README"],
    ["app.zip", 0, "/opt/zip0/app-1.0/bin/app"],
    ["app.zip", 1, "/opt/zip1/bin/app"],
  ] as const) {
    const destination = check.split("/").slice(0, 3).join("/");
    const declare = ({ archive }: Resources) => void archive(`${name} into ${destination}`, { path: `/srv/archives/${name}`, destination, stripComponents: strip });
    const first = await convergeWith(declare, { host });
    assert.deepEqual(first.updated.length, 1, `${name}: ${JSON.stringify(first.events.filter((e) => e.type === "resource:failed"))}`);
    assert.ok(existsSync(box.path(check)), `${name} put ${check} in place`);
    assert.deepEqual((await convergeWith(declare, { host })).updated, [], `${name} converges once`);
  }
  assert.deepEqual(
    execFileSync("find", [box.path("/opt/zip1"), "-mindepth", "1"], { encoding: "utf8" }).split("\n").filter(Boolean).map((p) => p.slice(box.path("/opt/zip1").length)).sort(),
    ["/README", "/bin", "/bin/app"],
    "no staging directory is left behind",
  );
  assert.equal(statSync(box.path("/opt/zip1/bin/app")).mode & 0o111, 0o111, "zip keeps the executable bit");
});

test("creates short-cuts extraction; a missing archive fails naming it", async () => {
  mkdirSync(box.path("/opt/already"), { recursive: true });
  const skip = await convergeWith(({ archive }) => void archive("/srv/archives/app.tar", { destination: "/opt/elsewhere", creates: "/opt/already" }), { host });
  assert.deepEqual(skip.updated, []);
  assert.equal(existsSync(box.path("/opt/elsewhere")), false);
  const missing = await convergeWith(({ archive }) => void archive("/srv/archives/none.tar.gz", { destination: "/opt/none" }), { host });
  assert.equal(missing.result.status, "failed");
  assert.match(JSON.stringify(missing.events), /archive \/srv\/archives\/none.tar.gz does not exist/);
});

test("entries are stripped as tar strips them", () => {
  assert.equal(strippedEntry("app-1.0/bin/app", 1), "bin/app");
  assert.equal(strippedEntry("./app-1.0/bin/", 1), "app-1.0/bin", "GNU tar counts a leading ./ as a component");
  assert.equal(strippedEntry("app-1.0/", 1), undefined);
  assert.equal(strippedEntry("a/../../etc/passwd", 0), undefined);
});

test("what killed runs left (the marker's temporary files, a zip's staging folder) is removed by the next run, and only that; then nothing changes", async () => {
  const markers = () => new Set(existsSync(box.path(ARCHIVE_MARKER_DIR)) ? readdirSync(box.path(ARCHIVE_MARKER_DIR)) : []);
  const before = markers();
  const declare = ({ archive }: Resources) => void archive("/srv/archives/app.zip", { destination: "/opt/left", stripComponents: 1 });
  await convergeWith(declare, { host });
  const marker = [...markers()].find((name) => !before.has(name))!;
  const { leftover, lookalike } = leftoverOf(`${ARCHIVE_MARKER_DIR}/${marker}`);
  writeFileSync(box.path(leftover), "{");
  writeFileSync(box.path(lookalike), "keep\n");
  // A staging folder as a run killed inside extractZipStripped leaves it, and folders that only look alike.
  mkdirSync(box.path("/opt/left/.sous-archive-0123456789ab/app-1.0"), { recursive: true });
  writeFileSync(box.path("/opt/left/.sous-archive-0123456789ab/app-1.0/README"), "version 1.0\n");
  mkdirSync(box.path("/opt/left/.sous-archive-notours"));
  writeFileSync(box.path("/opt/left/.sous-archive-abcdefabcdef"), "a file, not a staging folder\n");
  const cleaned = await convergeWith(declare, { host });
  assert.deepEqual(changedProperties(cleaned), { "archive[/srv/archives/app.zip]": ["leftovers"] });
  assert.equal(existsSync(box.path(leftover)), false);
  assert.equal(existsSync(box.path("/opt/left/.sous-archive-0123456789ab")), false);
  for (const kept of [lookalike, "/opt/left/.sous-archive-notours", "/opt/left/.sous-archive-abcdefabcdef", "/opt/left/README"]) assert.ok(existsSync(box.path(kept)), `${kept} stays`);
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
  // creates short-cuts extraction, not the cleaning.
  writeFileSync(box.path(leftover), "{");
  assert.deepEqual((await convergeWith(({ archive }) => void archive("/srv/archives/app.zip", { destination: "/opt/left", stripComponents: 1, creates: "/opt/left/README" }), { host })).updated, ["archive[/srv/archives/app.zip]"]);
  assert.equal(existsSync(box.path(leftover)), false);
  rmSync(box.path(lookalike));
});
