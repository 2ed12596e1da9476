/**
 * Disposable roots for tests of system resources: an overlay of this machine's `/` whose writes
 * land in a tmpfs, with /proc, /dev and a fresh /tmp mounted in it. Packages, users, groups and
 * crontabs change inside the overlay only; everything is unmounted and removed when the test
 * file ends, also when it fails. Also builds small .deb packages and a local apt repository, so
 * that apt inside the root never needs the network.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { ChrootHost } from "../../src/host/chroot.js";
import { treeDigest } from "../helpers.js";

const PREFIX = "sous-root-";
/** Where the local repository appears inside a root. */
export const ROOT_REPOSITORY = "/srv/sous-test-repo";

/** A mounted disposable root. */
export interface DisposableRoot {
  /** The root directory (the overlay's mount point). */
  readonly root: string;
  /** The overlay's upper directory: every change made in the root lands here. */
  readonly upper: string;
  /** The root as a Sous host. */
  readonly host: ChrootHost;
  /** A digest of every change made in the root so far (names, modes, owners, contents). */
  digest(): string;
  /** Runs argv inside the root and returns its standard output; throws with stderr on failure. */
  run(argv: readonly string[], input?: string): string;
  /** The path on this machine of a path inside the root (no link resolution: for test checks). */
  path(inside: string): string;
  /** Points the root's apt at `repository` (a directory of .deb files and an index) and nothing else. */
  useAptRepository(repository: string): void;
}

function mountPoints(): string[] {
  // Field 5 of mountinfo is the mount point, with spaces and such escaped as octal.
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

function sh(argv: readonly string[], options: { input?: string; cwd?: string } = {}): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { input: options.input, cwd: options.cwd, encoding: "utf8", env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" } });
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}${result.error ? String(result.error) : ""}`);
  return result.stdout;
}

/** Unmounts everything under `base` (deepest first) and removes it; never crosses into a mount that stays. */
function destroy(base: string): void {
  for (let round = 0; round < 3; round++) {
    const mounted = mountPoints()
      .filter((point) => point === base || point.startsWith(`${base}/`))
      .sort((a, b) => b.length - a.length);
    if (mounted.length === 0) break;
    for (const point of mounted) {
      const plain = spawnSync("umount", [point], { encoding: "utf8" });
      if (plain.status !== 0 && round > 0) spawnSync("umount", ["-l", point]);
    }
  }
  const left = mountPoints().filter((point) => point.startsWith(`${base}/`));
  // /dev is bind-mounted inside: removing files through a mount that stayed would delete real ones.
  if (left.length > 0) throw new Error(`disposable root ${base}: still mounted after cleanup, not removed: ${left.join(", ")}`);
  spawnSync("rm", ["-rf", "--one-file-system", base]);
}

/** Removes roots left behind by test processes that died before their cleanup ran. */
function removeStaleRoots(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(PREFIX)) continue;
    const base = join(tmpdir(), entry);
    let pid = 0;
    try {
      pid = Number(readFileSync(join(base, "owner.pid"), "utf8"));
    } catch {
      continue;
    }
    if (pid > 0 && !existsSync(`/proc/${pid}`)) {
      try {
        destroy(base);
      } catch {
        // Left for a later run; the live test does not depend on it.
      }
    }
  }
}

/**
 * Mounts a disposable root and registers its removal in an `after` hook of the current test
 * scope (call it at a test file's top level, or in `before`).
 */
export function createDisposableRoot(): DisposableRoot {
  if (process.getuid?.() !== 0) throw new Error("disposable roots mount file systems: run these tests as root (CI does)");
  removeStaleRoots();
  const base = mkdtempSync(join(tmpdir(), PREFIX));
  after(() => destroy(base));
  writeFileSync(join(base, "owner.pid"), String(process.pid));
  const layer = join(base, "layer");
  const root = join(base, "root");
  mkdirSync(layer);
  mkdirSync(root);
  // Upper and work on a tmpfs: overlayfs refuses layers nested in one another on the same file system.
  sh(["mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "sous-layer", layer]);
  const upper = join(layer, "upper");
  const work = join(layer, "work");
  mkdirSync(upper);
  mkdirSync(work);
  sh(["mount", "-t", "overlay", "sous-root", "-o", `lowerdir=/,upperdir=${upper},workdir=${work}`, root]);
  sh(["mount", "-t", "proc", "proc", join(root, "proc")]);
  sh(["mount", "--bind", "/dev", join(root, "dev")]);
  sh(["mount", "-t", "tmpfs", "-o", "mode=1777", "sous-tmp", join(root, "tmp")]);
  for (const point of [layer, root, join(root, "proc"), join(root, "dev"), join(root, "tmp")]) sh(["mount", "--make-private", point]);
  // No service starts from package scripts inside the root.
  writeFileSync(join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });

  const host = new ChrootHost(root);
  const rootRun = (argv: readonly string[], input?: string) => sh(["chroot", root, ...argv], { input });
  return {
    root,
    upper,
    host,
    digest: () => treeDigest(upper),
    run: rootRun,
    path: (inside) => join(root, inside),
    useAptRepository(repository) {
      const target = join(root, ROOT_REPOSITORY);
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target, { recursive: true });
      cpSync(repository, target, { recursive: true });
      writeFileSync(join(root, "etc/apt/sources.list"), `deb [trusted=yes] file:${ROOT_REPOSITORY} ./\n`);
      for (const dir of ["etc/apt/sources.list.d", "var/lib/apt/lists"]) {
        for (const entry of readdirSync(join(root, dir))) {
          if (entry !== "partial" && entry !== "lock" && entry !== "auxfiles") rmSync(join(root, dir, entry), { recursive: true, force: true });
        }
      }
      rootRun(["apt-get", "-q", "update"]);
    },
  };
}

/** A package to build for a test repository. */
export interface DebSpec {
  name: string;
  version: string;
  depends?: string;
  /** Files the package installs: absolute path → content. */
  files?: Record<string, string>;
  /** A conffile's path among `files`. */
  conffiles?: string[];
}

/** Builds a small .deb with `dpkg-deb --build` into `outDir`; returns its path. */
export function buildDeb(outDir: string, spec: DebSpec): string {
  const staging = mkdtempSync(join(tmpdir(), "sous-deb-"));
  try {
    mkdirSync(join(staging, "DEBIAN"));
    const control = [
      `Package: ${spec.name}`,
      `Version: ${spec.version}`,
      "Architecture: all",
      "Maintainer: Sous tests <tests@sous.invalid>",
      ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
      "Section: misc",
      "Priority: optional",
      `Description: ${spec.name} test package`,
      " Built by Sous's tests.",
      "",
    ].join("\n");
    writeFileSync(join(staging, "DEBIAN/control"), control);
    if (spec.conffiles?.length) writeFileSync(join(staging, "DEBIAN/conffiles"), `${spec.conffiles.join("\n")}\n`);
    for (const [path, content] of Object.entries(spec.files ?? { [`/usr/share/${spec.name}/version`]: `${spec.version}\n` })) {
      const full = join(staging, path);
      mkdirSync(join(full, ".."), { recursive: true });
      writeFileSync(full, content);
    }
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `${spec.name}_${spec.version}_all.deb`);
    execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", staging, out], { stdio: "pipe" });
    return out;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Indexes a directory of .deb files as a flat repository (Packages and Release). */
export function indexRepository(dir: string): void {
  const packages = sh(["dpkg-scanpackages", "--multiversion", "."], { cwd: dir });
  writeFileSync(join(dir, "Packages"), packages);
  writeFileSync(join(dir, "Release"), sh(["apt-ftparchive", "release", "."], { cwd: dir }));
}
