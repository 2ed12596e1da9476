// Runs every test file with Node's test runner (TypeScript through tsx) and ends with
// the line "N passed, N failed". Arguments narrow the run to files or folders.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function collect(path, out) {
  const info = statSync(path);
  if (info.isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === "node_modules" || entry === "fixtures" || entry.startsWith(".")) continue;
      collect(join(path, entry), out);
    }
  } else if (/\.test\.ts$/.test(path)) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ["test"]).flatMap((root) => collect(root, []));
if (files.length === 0) {
  console.error("no test files found");
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  [
    "--import", "tsx",
    "--test",
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    "--test-reporter=./scripts/summary-reporter.mjs", "--test-reporter-destination=stdout",
    ...files,
  ],
  // sous exec keeps connections in a background process by default; tests connect afresh unless a
  // test asks for it (and then stops the process it started).
  { stdio: "inherit", env: { SOUS_SSH_PERSIST: "0", ...process.env, SOUS_TEST: "1" } },
);
process.exit(result.status ?? 1);
