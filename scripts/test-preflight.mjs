// Before `npm test` runs anything: the Debian packages the suite needs (.ci/apt-packages.txt)
// are installed. As root with apt, the missing ones are installed with one apt-get call (after
// `apt-get update` when the package lists cannot provide them); otherwise it stops, naming the
// missing packages and the command that installs them. A run never skips them silently.
//   SOUS_APT_PACKAGES_FILE  another list (the preflight's own tests use it)
import { spawnSync } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const listFile = process.env.SOUS_APT_PACKAGES_FILE || join(projectRoot, ".ci", "apt-packages.txt");
const LISTS = "/var/lib/apt/lists";
/** Package lists older than this may name versions the mirror no longer has. */
const STALE_LISTS_MS = 24 * 3600 * 1000;

/** The package names of a list file: one a line, `#` comments and blank lines ignored. */
function readList(file) {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean);
}

function onPath(command) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** The packages of `names` that dpkg does not list as installed (all of them without dpkg). */
function missingPackages(names) {
  if (!onPath("dpkg-query")) return names;
  // One call for the whole list; unknown names make it exit 1, and simply print no line.
  const result = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\\n", ...names], { encoding: "utf8" });
  const installed = new Set(
    (result.stdout ?? "")
      .split("\n")
      .filter((line) => line.endsWith(" install ok installed"))
      .map((line) => line.split(" ")[0]),
  );
  return names.filter((name) => !installed.has(name));
}

/** Whether apt must refresh its lists before it can install `names`: no candidate for one of them, or lists over a day old. */
function needsUpdate(names) {
  let newest = 0;
  try {
    for (const entry of readdirSync(LISTS)) if (entry.includes("Packages")) newest = Math.max(newest, statSync(join(LISTS, entry)).mtimeMs);
  } catch {
    return true;
  }
  if (Date.now() - newest > STALE_LISTS_MS) return true;
  const policy = spawnSync("apt-cache", ["policy", ...names], { encoding: "utf8" }).stdout ?? "";
  const withCandidate = new Set();
  let current;
  for (const line of policy.split("\n")) {
    const header = /^(\S+):$/.exec(line);
    if (header) current = header[1];
    else if (current && /^\s+Candidate: (?!\(none\))/.test(line)) withCandidate.add(current);
  }
  return names.some((name) => !withCandidate.has(name));
}

function apt(args) {
  const result = spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return result.status === 0;
}

function stop(lines) {
  process.stderr.write(`${lines.join("\n")}\n`);
  process.exit(1);
}

const wanted = readList(listFile);
const missing = missingPackages(wanted);
if (missing.length === 0) process.exit(0);

const install = `apt-get install -y ${missing.join(" ")}`;
const plural = missing.length === 1 ? "package" : "packages";
if (process.getuid?.() !== 0 || !onPath("apt-get")) {
  const how = !onPath("apt-get")
    ? "This machine has no apt-get: install them with its package manager, then run npm test again."
    : `Install them as root, then run npm test again:\n  sudo apt-get update && sudo ${install}`;
  stop([`npm test: ${missing.length} Debian ${plural} the tests need ${missing.length === 1 ? "is" : "are"} not installed: ${missing.join(" ")}`, how]);
}

console.log(`npm test: installing ${missing.length} missing Debian ${plural} the tests need (${listFile}): ${missing.join(" ")}`);
if (needsUpdate(missing) && !apt(["update", "-q"])) stop(["npm test: apt-get update failed; see its output above."]);
if (!apt(["install", "-y", "-q", ...missing])) stop([`npm test: \`${install}\` failed; see its output above.`]);
const still = missingPackages(missing);
if (still.length) stop([`npm test: still not installed after apt-get install: ${still.join(" ")}`]);
