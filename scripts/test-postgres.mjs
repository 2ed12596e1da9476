// A throwaway PostgreSQL cluster for one test run (scripts/ci-postgres.sh), so that `npm test`
// alone runs the PostgreSQL tests: started when SOUS_TEST_POSTGRES_URL is not set, stopped
// and removed when the run ends.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const script = join(dirname(fileURLToPath(import.meta.url)), "ci-postgres.sh");

/** Starts a cluster; returns its URL and data folder, or the reason it could not start. */
export function startPostgres() {
  const result = spawnSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const url = /SOUS_TEST_POSTGRES_URL=(\S+)/.exec(result.stdout ?? "")?.[1];
  const data = /SOUS_TEST_POSTGRES_DATA=(\S+)/.exec(result.stdout ?? "")?.[1];
  if (result.status !== 0 || !url || !data) {
    const said = (result.stderr ?? "").trim().split("\n").slice(-3).join("\n  ");
    return { error: `scripts/ci-postgres.sh failed (exit ${result.status})${said ? `:\n  ${said}` : ""}` };
  }
  return { url, data };
}

/** Stops a cluster started by startPostgres and removes its folder. */
export function stopPostgres(data) {
  spawnSync("bash", [script, "stop", data], { stdio: "ignore" });
}
