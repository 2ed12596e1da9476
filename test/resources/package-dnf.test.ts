import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import type { Host } from "../../src/host/host.js";
import { parseRpmRows, rpmPinMatches } from "../../src/resources/package-dnf.js";
import { convergeTwice, convergeWith, eventsOf, scratch, treeDigest } from "../helpers.js";
import { createDisposableRoot, type DisposableRoot } from "../support/disposable-root.js";
import { recordingHost } from "../support/recording-host.js";

/** An rpm to build for the test repository: it installs /usr/share/NAME/version. */
interface RpmSpec {
  name: string;
  version: string;
  requires?: string;
}

/** Builds a small noarch .rpm with rpmbuild into `outDir`. */
function buildRpm(outDir: string, spec: RpmSpec): void {
  const top = mkdtempSync(join(tmpdir(), "sous-rpm-"));
  try {
    const specFile = join(top, `${spec.name}.spec`);
    writeFileSync(
      specFile,
      [
        `Name: ${spec.name}`,
        `Version: ${spec.version}`,
        "Release: 1",
        `Summary: ${spec.name} test package`,
        "License: MIT",
        "BuildArch: noarch",
        ...(spec.requires ? [`Requires: ${spec.requires}`] : []),
        "%description",
        "Built by Sous's tests.",
        "%install",
        `mkdir -p %{buildroot}/usr/share/${spec.name}`,
        `echo ${spec.version} > %{buildroot}/usr/share/${spec.name}/version`,
        "%files",
        `/usr/share/${spec.name}/version`,
        "",
      ].join("\n"),
    );
    const defines = { _topdir: top, _rpmdir: outDir, _build_name_fmt: "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" };
    execFileSync("rpmbuild", ["-bb", "--quiet", ...Object.entries(defines).flatMap(([key, value]) => ["--define", `${key} ${value}`]), specFile], { stdio: "pipe", env: { ...process.env, LC_ALL: "C" } });
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}

const repository = scratch("sous-rpm-repo-");
buildRpm(repository, { name: "sous-hello", version: "1.0" });
buildRpm(repository, { name: "sous-hello", version: "2.0" });
buildRpm(repository, { name: "sous-lib", version: "1.0" });
buildRpm(repository, { name: "sous-app", version: "1.0", requires: "sous-lib >= 1.0" });
execFileSync("createrepo_c", ["--quiet", repository], { stdio: "pipe" });

const ROOT_REPOSITORY = "/srv/sous-rpm-repo";

/** Points dnf in the root at the local repository and nothing else; no network is ever needed. */
function useDnfRepository(box: DisposableRoot): void {
  cpSync(repository, box.path(ROOT_REPOSITORY), { recursive: true });
  const reposDir = box.path("/etc/yum.repos.d");
  mkdirSync(reposDir, { recursive: true });
  for (const entry of readdirSync(reposDir)) rmSync(join(reposDir, entry), { recursive: true, force: true });
  writeFileSync(join(reposDir, "sous-test.repo"), `[sous-test]\nname=Sous tests\nbaseurl=file://${ROOT_REPOSITORY}\nenabled=1\ngpgcheck=0\n`);
  // Debian has no system-release package for dnf to take $releasever from.
  writeFileSync(box.path("/etc/dnf/vars/releasever"), "sous-test\n");
}

const box = createDisposableRoot();
useDnfRepository(box);
const host = box.host;

/** The root's host, recording the argv of every command it runs. */
function recording(): { host: Host; commands: string[][] } {
  return recordingHost(host);
}

/**
 * Every change in the root, digested per top-level path, except dnf's metadata cache and logs,
 * which any dnf query refreshes and appends to, and rpm's database files, which any query opens
 * and locks (Debian's rpm keeps them in ~/.rpmdb): their content is compared as `rpm -qa`.
 */
function packagesDigest(): string[] {
  const skipped = ["var/cache/dnf", "var/log", "root/.rpmdb"];
  const digests = [`rpm -qa: ${box.run(["rpm", "-qa"]).split("\n").sort().join(" ")}`];
  const visit = (rel: string) => {
    for (const entry of readdirSync(join(box.upper, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (skipped.includes(path)) continue;
      if (entry.isDirectory() && skipped.some((skip) => skip.startsWith(`${path}/`))) visit(path);
      else digests.push(`${path} ${treeDigest(join(box.upper, path))}`);
    }
  };
  visit("");
  return digests.sort();
}

/** rpm's view inside a root: "version-release", or "absent". */
function rpmState(name: string, root = box): string {
  const result = spawnSync("chroot", [root.root, "rpm", "-q", "--qf", "%{version}-%{release}", name], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : "absent";
}

function failureOf(run: Awaited<ReturnType<typeof convergeWith>>): string {
  const failure = run.events.find((e) => e.type === "resource:failed") as { error: { message: string } } | undefined;
  return failure?.error.message ?? "(no failure)";
}

test("several packages install in one dnf call, with their dependencies; the second run only asks rpm", async () => {
  const declare = ({ package: pkg }: Resources) => {
    pkg("app stack", { packageName: ["sous-app", "sous-hello"], provider: "dnf" });
  };
  const before = packagesDigest();
  const preview = await convergeWith(declare, { host, dryRun: true });
  assert.equal(preview.result.status, "converged", failureOf(preview));
  assert.deepEqual(preview.updated, ["package[app stack]"]);
  assert.deepEqual(packagesDigest(), before, "the dry run left the root unchanged");
  assert.equal(rpmState("sous-app"), "absent");

  const recorder = recording();
  const first = await convergeWith(declare, { host: recorder.host });
  assert.equal(first.result.status, "converged", failureOf(first));
  const dnfRuns = recorder.commands.filter((argv) => argv[0] === "dnf" && !argv.includes("repoquery"));
  assert.equal(dnfRuns.length, 1, "one dnf call for both packages");
  assert.deepEqual(dnfRuns[0]!.slice(-3), ["install", "sous-app-1.0-1", "sous-hello-2.0-1"]);
  assert.ok(dnfRuns[0]!.includes("--setopt=install_weak_deps=False"));
  assert.deepEqual(eventsOf(first.events, "resource:updated")[0]!.changes, [
    { property: "sous-app", from: undefined, to: "1.0-1" },
    { property: "sous-hello", from: undefined, to: "2.0-1" },
  ]);
  assert.equal(rpmState("sous-app"), "1.0-1");
  assert.equal(rpmState("sous-lib"), "1.0-1", "the dependency came along");
  assert.equal(readFileSync(box.path("/usr/share/sous-hello/version"), "utf8"), "2.0\n");
  assert.equal(existsSync("/usr/share/sous-hello"), false, "this machine is untouched");

  const quiet = recording();
  const second = await convergeWith(declare, { host: quiet.host });
  assert.deepEqual(second.updated, []);
  assert.deepEqual(quiet.commands.map((argv) => argv[0]), ["rpm"], "installed packages cost one rpm query, no dnf call");
});

test("a version pin installs, downgrades and upgrades to that version; upgrade goes to the newest; each converges once", async () => {
  const pinned = (version: string) => ({ package: pkg }: Resources) => void pkg("sous-hello", { version, provider: "dnf" });
  // Installed at 2.0-1 by the previous test, or freshly installed when run alone.
  await convergeTwice(pinned("1.0-1"), ["package[sous-hello]"], { host });
  assert.equal(rpmState("sous-hello"), "1.0-1");
  assert.equal(readFileSync(box.path("/usr/share/sous-hello/version"), "utf8"), "1.0\n");

  const upgrade = ({ package: pkg }: Resources) => void pkg("sous-hello", { action: "upgrade", provider: "dnf" });
  const before = packagesDigest();
  const preview = await convergeWith(upgrade, { host, dryRun: true });
  assert.deepEqual(preview.updated, ["package[sous-hello]"]);
  assert.deepEqual(packagesDigest(), before, "the dry run left the root unchanged");
  const { first } = await convergeTwice(upgrade, ["package[sous-hello]"], { host });
  assert.deepEqual(eventsOf(first.events, "resource:updated")[0]!.changes, [{ property: "sous-hello", from: "1.0-1", to: "2.0-1" }]);
  assert.equal(rpmState("sous-hello"), "2.0-1");

  assert.deepEqual((await convergeWith(pinned("2.0"), { host })).updated, [], "a pin without a release matches the installed 2.0-1");
  await convergeTwice(pinned("1.0"), ["package[sous-hello]"], { host });
  assert.equal(rpmState("sous-hello"), "1.0-1", "a pin without a release finds 1.0-1 and downgrades to it");
  await convergeTwice(pinned("2.0-1"), ["package[sous-hello]"], { host });
  assert.equal(rpmState("sous-hello"), "2.0-1");
});

test("remove uninstalls with one dnf call and converges once; a dry run shows it and changes nothing", async () => {
  await convergeWith(({ package: pkg }) => void pkg("stack", { packageName: ["sous-app", "sous-hello"], provider: "dnf" }), { host });
  const remove = ({ package: pkg }: Resources) => void pkg("stack", { packageName: ["sous-app", "sous-hello"], action: "remove", provider: "dnf" });
  const before = packagesDigest();
  assert.deepEqual((await convergeWith(remove, { host, dryRun: true })).updated, ["package[stack]"]);
  assert.deepEqual(packagesDigest(), before);
  await convergeTwice(remove, ["package[stack]"], { host });
  assert.equal(rpmState("sous-app"), "absent");
  assert.equal(rpmState("sous-hello"), "absent");
  assert.equal(existsSync(box.path("/usr/share/sous-hello/version")), false);
});

test("an unknown package or version fails naming it and installs nothing; purge is refused", async () => {
  await convergeWith(({ package: pkg }) => void pkg("sous-lib", { action: "remove", provider: "dnf" }), { host });
  assert.equal(rpmState("sous-lib"), "absent");
  const unknown = await convergeWith(({ package: pkg }) => void pkg("both", { packageName: ["sous-lib", "sous-not-in-any-repo"], provider: "dnf" }), { host });
  assert.equal(unknown.result.status, "failed");
  assert.match(failureOf(unknown), /package sous-not-in-any-repo: no dnf repository offers it/);
  const badPin = await convergeWith(({ package: pkg }) => void pkg("sous-hello", { version: "9.9-9", provider: "dnf" }), { host });
  assert.match(failureOf(badPin), /package sous-hello: version 9\.9-9 is not available \(dnf knows 1\.0-1, 2\.0-1/);
  const purge = await convergeWith(({ package: pkg }) => void pkg("sous-lib", { action: "purge", provider: "dnf" }), { host });
  assert.match(failureOf(purge), /dnf has no purge; use remove/);
  assert.equal(rpmState("sous-lib"), "absent", "the known package in the failed resource was not installed either");
});

test("by default dnf acts where the host has dnf and no dpkg, apt where dpkg exists", async () => {
  const plain = ({ package: pkg }: Resources) => void pkg("sous-lib");
  // This root has dpkg: apt is chosen, and apt knows nothing of the rpm repository.
  const withDpkg = await convergeWith(plain, { host });
  assert.match(failureOf(withDpkg), /sous-lib: apt has no installation candidate/);
  const upper = await convergeWith(({ package: pkg }) => void pkg("Sous-Upper"), { host });
  assert.match(failureOf(upper), /"Sous-Upper": not a package name apt accepts/);

  const rpmOnly = createDisposableRoot();
  useDnfRepository(rpmOnly);
  rmSync(rpmOnly.path("/usr/bin/dpkg-query"));
  await convergeTwice(plain, ["package[sous-lib]"], { host: rpmOnly.host });
  assert.equal(rpmState("sous-lib", rpmOnly), "1.0-1");
});

test("rpm query rows parse; pins match with or without release and epoch", () => {
  const rows = parseRpmRows("sous-hello\t(none)\t1.0-1\tnoarch\npackage gone is not installed\nbash\t2\t5.2-4.fc39\tx86_64\n");
  assert.deepEqual(rows, [
    { name: "sous-hello", epoch: 0, versionRelease: "1.0-1", arch: "noarch" },
    { name: "bash", epoch: 2, versionRelease: "5.2-4.fc39", arch: "x86_64" },
  ]);
  const bash = rows[1]!;
  assert.equal(rpmPinMatches(bash, "5.2"), true);
  assert.equal(rpmPinMatches(bash, "5.2-4.fc39"), true);
  assert.equal(rpmPinMatches(bash, "2:5.2-4.fc39"), true);
  assert.equal(rpmPinMatches(bash, "1:5.2"), false, "another epoch");
  assert.equal(rpmPinMatches(bash, "5.2-3.fc39"), false, "another release");
  assert.equal(rpmPinMatches(bash, "5.20"), false);
});
