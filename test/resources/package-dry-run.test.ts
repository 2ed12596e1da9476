/**
 * A dry run where a package comes from a repository the same run adds first: the dry run
 * states the assumption and does not fail; it fails where the real run would.
 */
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { RunEvent } from "../../src/core/events.js";
import type { Resources } from "../../src/dsl.js";
import { convergeWith, scratch } from "../helpers.js";
import { buildDeb, createDisposableRoot, indexRepository } from "../support/disposable-root.js";

const extra = join(scratch("sous-repo-"), "extra");
buildDeb(extra, { name: "sous-extra-tool", version: "3.1-1" });
indexRepository(extra);
const base = join(scratch("sous-repo-"), "base");
buildDeb(base, { name: "sous-base", version: "1.0-1" });
indexRepository(base);

const box = createDisposableRoot();
box.useAptRepository(base);
cpSync(extra, box.path("/srv/extra"), { recursive: true });
const host = box.host;

const updates = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: "resource:updated" }> => e.type === "resource:updated");
const failures = (events: RunEvent[]) => events.filter((e) => e.type === "resource:failed");

const withRepository = (packages: string[], version?: string) => ({ aptRepository, package: pkg }: Resources) => {
  aptRepository("sous-extra", { uri: "file:/srv/extra", suites: ["./"], trusted: true });
  for (const name of packages) pkg(name, version ? { version } : {});
};

test("a dry run installing from a repository added earlier in the run states the assumption, changes nothing, and the real run installs", async () => {
  const before = box.digest();
  const dry = await convergeWith(withRepository(["sous-extra-tool"]), { host, dryRun: true });
  assert.equal(dry.result.status, "converged", JSON.stringify(failures(dry.events)));
  assert.deepEqual(dry.updated, ["apt_repository[sous-extra]", "package[sous-extra-tool]"]);
  const planned = updates(dry.events)[1]!;
  assert.match(planned.assumptions?.[0] ?? "", /package sous-extra-tool: would install its candidate from a repository added earlier in this run \(apt_repository\[sous-extra\]\)/);
  assert.equal(box.digest(), before, "the dry run changed nothing");

  // A pinned version too.
  const pinned = await convergeWith(withRepository(["sous-extra-tool"], "3.1-1"), { host, dryRun: true });
  assert.equal(pinned.result.status, "converged");
  assert.deepEqual(updates(pinned.events)[1]!.changes, [{ property: "sous-extra-tool", from: undefined, to: "3.1-1" }]);

  const real = await convergeWith(withRepository(["sous-extra-tool"]), { host });
  assert.equal(real.result.status, "converged", JSON.stringify(failures(real.events)));
  assert.equal(updates(real.events)[1]!.assumptions, undefined, "a real run assumes nothing");
  assert.equal(box.run(["dpkg-query", "-W", "-f", "${Version}", "sous-extra-tool"]), "3.1-1");
  const again = await convergeWith(withRepository(["sous-extra-tool"]), { host, dryRun: true });
  assert.deepEqual(again.updated, [], "converged: nothing to change, nothing assumed");
});

test("a dry run fails where the real run would: no repository change before it, or a package of the base sources that does not exist", async () => {
  // The repository is in place now (previous test): an unknown package fails in the dry run as in the real run.
  const dry = await convergeWith(withRepository(["sous-no-such-tool"]), { host, dryRun: true });
  assert.equal(dry.result.status, "failed");
  assert.match(JSON.stringify(failures(dry.events)), /sous-no-such-tool: apt has no installation candidate/);
  const fresh = createDisposableRoot();
  fresh.useAptRepository(base);
  const noRepository = await convergeWith(({ package: pkg }: Resources) => void pkg("sous-extra-tool"), { host: fresh.host, dryRun: true });
  assert.equal(noRepository.result.status, "failed");
  assert.match(JSON.stringify(failures(noRepository.events)), /no installation candidate/);
});
