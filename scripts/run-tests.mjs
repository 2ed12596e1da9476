// Runs every test file with Node's test runner (TypeScript through tsx) and ends with
// the line "N passed, N failed". Arguments narrow the run to files or folders.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { startPostgres, stopPostgres } from "./test-postgres.mjs";

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
// The server tests run on PostgreSQL too: without a cluster given, one for the whole run.
let postgres;
if (!process.env.SOUS_TEST_POSTGRES_URL && files.some((file) => file.split(sep).includes("server"))) {
  postgres = startPostgres();
  if (postgres.error) console.error(`run-tests: no PostgreSQL for the server tests (they say so as skipped): ${postgres.error}`);
  else console.log(`run-tests: a throwaway PostgreSQL cluster for this run at ${postgres.url}, removed when it ends`);
}
const child = spawn(
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
  {
    stdio: "inherit",
    env: { SOUS_SSH_PERSIST: "0", ...process.env, SOUS_TEST: "1", ...(postgres?.url ? { SOUS_TEST_POSTGRES_URL: postgres.url } : {}) },
  },
);
// Ctrl-C reaches the test runner too; a TERM sent to this process alone is passed on. Either
// way the cluster is stopped once the runner has ended.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (postgres?.data) stopPostgres(postgres.data);
  process.exit(code ?? (signal ? 1 : 0));
});
