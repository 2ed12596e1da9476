/**
 * The converge service (src/run): local mode and push are one code path, so they agree on
 * `-j` checking, diffs, run reports, backup folders and the event stream.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it, test } from "node:test";
import { convergeTarget, EVENT_STREAM_VERSION, type StreamEvent } from "../../src/run/converge.js";
import { builtinTargets, rootSpec } from "../../src/run/targets.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch, sous } from "../helpers.js";
import { writeW2Repository } from "../push/repository.js";
import { createDisposableRoot } from "../support/disposable-root.js";

/** A repository whose sous.config.ts keeps backups in the repository, as `sous init` writes it. */
function repositoryWithRelativeBackups(target: string): string {
  const repo = writeW2Repository(scratch("sous-run-repo-"), { files: 2, directories: 1, root: target });
  writeFileSync(join(repo, "sous.config.ts"), `import { config } from "sous";\n\nexport default config({ runList: ["recipe[w2]"], backupDir: ".sous/backup" });\n`);
  return repo;
}

test("the target registry opens local, root:, nsenter:// and machine:// specs, refuses unknown ones and duplicate schemes", async () => {
  const registry = builtinTargets();
  const local = await registry.open("local");
  assert.equal(local.name, "local");
  assert.equal(local.isThisMachine, true);
  await local.close();
  await assert.rejects(registry.open("ftp://web1"), /not a target: "ftp:\/\/web1" \(expected one of local, root:DIR, nsenter:\/\/\.\.\., machine:\/\/\.\.\., ssh:\/\/\.\.\.\)/);
  await assert.rejects(registry.open("nsenter://web1"), /expected the process id/);
  assert.throws(() => registry.register("ssh", async () => local), /target scheme "ssh" is registered twice/);
});

test("convergeTarget on a root: converges, writes the report at .sous/runs/<target>/, and every event carries the stream version and the target", async () => {
  const box = createDisposableRoot();
  const repo = writeW2Repository(scratch("sous-run-repo-"), { files: 2, directories: 1, root: "/srv/run-service" });
  const target = await builtinTargets().open(rootSpec(box.root));
  try {
    const events: StreamEvent[] = [];
    const first = await convergeTarget(target, undefined, { repo, events: (e) => events.push(e) });
    assert.equal(first.result.status, "converged");
    assert.equal(first.result.counts.updated, 3);
    assert.ok(events.length > 0 && events.every((e) => e.version === EVENT_STREAM_VERSION && e.host === target.name));
    assert.deepEqual([events[0]!.type, events.at(-1)!.type], ["run:start", "run:finish"]);
    assert.equal(first.reportPath, join(repo, ".sous", "runs", target.name.replace(/[^A-Za-z0-9@.:_-]+/g, "_"), "last-run.json"));
    const report = JSON.parse(readFileSync(first.reportPath!, "utf8")) as { status: string; counts: { updated: number } };
    assert.equal(report.status, "converged");
    assert.equal(report.counts.updated, 3);
    assert.deepEqual(first.loaded?.expanded.recipes ?? [], ["w2::default"]);
    const second = await convergeTarget(target, ["recipe[w2]"], { repo, report: false });
    assert.equal(second.result.counts.updated, 0);
    assert.equal(second.reportPath, undefined);
  } finally {
    await target.close();
  }
});

test("a relative sous.config.ts backupDir holds on this machine only: --root keeps backups in the root's /var/lib/sous/backup, not under the repository's path inside the root", async () => {
  const box = createDisposableRoot();
  const repo = repositoryWithRelativeBackups("/srv/run-backups");
  const first = await sous("converge", "--repo", repo, "--root", box.root);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  writeFileSync(box.path("/srv/run-backups/d0/f0.conf"), "changed by hand\n");
  const second = await sous("converge", "--repo", repo, "--root", box.root, "--log-level", "debug");
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /backupDir "\.sous\/backup" is relative to the repository, which is not on chroot:/);
  const backups = box.path("/var/lib/sous/backup/srv/run-backups/d0");
  assert.ok(existsSync(backups) && readdirSync(backups).some((name) => name.startsWith("f0.conf.sous-")), "the backup is in the root's default folder");
  assert.equal(existsSync(box.path(join(repo, ".sous", "backup"))), false, "nothing under the workstation's repository path inside the root");
});

test("-j is checked the same way for this machine and for push: not an object, or a run_list of non-strings, is a usage error naming the file", async () => {
  const repo = writeW2Repository(scratch("sous-run-repo-"), { files: 1, directories: 1, root: "/srv/never" });
  const list = join(repo, "list.json");
  writeFileSync(list, "[1, 2]\n");
  const badRunList = join(repo, "bad-run-list.json");
  writeFileSync(badRunList, `{ "run_list": "recipe[w2]" }\n`);
  for (const where of [["--root", "/nonexistent-but-never-reached"], ["ssh://root@127.0.0.1:1"]]) {
    const notObject = await sous("converge", "--repo", repo, "-j", list, ...where);
    assert.equal(notObject.code, 2, notObject.stdout + notObject.stderr);
    assert.match(notObject.stderr, new RegExp(`--json-attributes ${list}: expected a JSON object`));
    const notStrings = await sous("converge", "--repo", repo, "-j", badRunList, ...where);
    assert.equal(notStrings.code, 2, notStrings.stdout + notStrings.stderr);
    assert.match(notStrings.stderr, /run_list must be an array of strings/);
  }
});

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(1);
let fleet: Fleet;

const repo = skip ? "" : repositoryWithRelativeBackups("/srv/run-push");

describe("push converges through the same service", { skip }, () => {
  before(async () => {
    if (skip) return;
    fleet = await startedFleet();
  });
  const sshArgs = () => ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile];

  it("shows unified diffs by default, writes a run report per host, and streams versioned events", async () => {
    const host = fleet.hosts[0]!;
    const first = await sous("converge", "--repo", repo, ...sshArgs(), host.target);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const report = JSON.parse(readFileSync(join(repo, ".sous", "runs", `root@${host.address}`, "last-run.json"), "utf8")) as { status: string; node: string; counts: { updated: number } };
    assert.equal(report.status, "converged");
    assert.equal(report.counts.updated, 3);

    const edit = await sous("exec", "echo changed by hand > /srv/run-push/d0/f0.conf", ...sshArgs(), host.target);
    assert.equal(edit.code, 0, edit.stdout);
    const second = await sous("converge", "--repo", repo, ...sshArgs(), host.target);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /\| +-changed by hand$/m, "the diff is shown without --diff");
    assert.match(second.stdout, /\| +\+index = 0$/m);
    // sous.config.ts's relative backupDir is the workstation's: on the host, backups go to the default folder.
    const backups = await sous("exec", "ls /var/lib/sous/backup/srv/run-push/d0", ...sshArgs(), host.target);
    assert.match(backups.stdout, /f0\.conf\.sous-/);

    const json = await sous("converge", "--repo", repo, "--json", ...sshArgs(), host.target);
    const events = json.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { type: string; version?: number; host: string });
    const runEvents = events.filter((e) => e.type !== "host:finish");
    assert.ok(runEvents.length > 2 && runEvents.every((e) => e.version === EVENT_STREAM_VERSION && e.host === `root@${host.address}`));
  });

  it("refuses a relative --backup-dir before reaching any host, and a --report file for several hosts", async () => {
    const host = fleet.hosts[0]!;
    const relative = await sous("converge", "--repo", repo, "--backup-dir", "backups", ...sshArgs(), host.target);
    assert.equal(relative.code, 2, relative.stdout + relative.stderr);
    assert.match(relative.stderr, /--backup-dir backups: a relative path names a folder on this machine, not on root@/);
    const report = await sous("converge", "--repo", repo, "--report", join(repo, "r.json"), ...sshArgs(), host.target, "ssh://root@127.0.0.1:1");
    assert.equal(report.code, 2);
    assert.match(report.stderr, /--report names one file: with 2 targets/);
  });
});
