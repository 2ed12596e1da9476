/**
 * `sous test --machine` (Test Kitchen and InSpec's tier, in one command): for each cookbook,
 * boot a disposable systemd machine, converge `recipe[COOKBOOK]` on it twice through its
 * namespaces (the first must succeed, the second must change nothing), run the cookbook's
 * `verify/*.ts` checks against it on Node's test runner, then destroy the machine (`--keep`
 * leaves it up for a look).
 */
import { join, relative } from "node:path";
import { UsageError } from "../core/errors.js";
import type { RunEvent } from "../core/events.js";
import { shownId } from "../core/events.js";
import type { CookbookOnDisk } from "../cookbook/repository.js";
import { humanReporter } from "../run/report/human.js";
import { bundleTests, filesIn, runNodeTests, type TestCommandOptions } from "./runner.js";

/** Converges each cookbook on a disposable machine twice and runs its verify/ checks; resolves to the exit status. */
export async function machineTest(root: string, cookbooks: CookbookOnDisk[], options: TestCommandOptions, output: { stdout: (text: string) => void; stderr: (text: string) => void }): Promise<number> {
  const machines = await import("../machine/machines.js");
  const unavailable = machines.machinesUnavailable();
  if (unavailable) throw new UsageError(`sous test --machine: ${unavailable}`);
  const { convergeTarget } = await import("../run/converge.js");
  const { builtinTargets } = await import("../run/targets.js");
  const failures: string[] = [];
  const started = performance.now();
  for (const cookbook of cookbooks) {
    const runList = `recipe[${cookbook.name}]`;
    const hostname = `test-${cookbook.name.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 50)}`;
    output.stdout(`${cookbook.name}: booting a machine (${hostname})...\n`);
    const machine = await machines.bootMachine({ hostname, keep: options.keep === true });
    try {
      // nsenter targets hold no connection: nothing to close.
      const target = await builtinTargets().open(`nsenter://${machine.pid}`);
      const converge = async (round: number): Promise<{ ok: boolean; updated: string[] }> => {
        output.stdout(`${cookbook.name}: converge ${round} of 2 (${runList})\n`);
        const updated: string[] = [];
        const render = humanReporter({ level: round === 1 ? "info" : "warn", why: false, diff: false, color: false, write: (text) => output.stdout(text.replace(/^(?=.)/gm, "  ")) });
        const outcome = await convergeTarget(target, runList, {
          repo: root,
          // The machine converges what is being written, not what was locked.
          useLock: false,
          report: false,
          events: (event) => {
            if (event.type === "run:invalid") {
              output.stdout(`  ${event.message}\n`);
              for (const problem of event.problems) output.stdout(`    ${problem.location ? `${problem.location.file}:${problem.location.line} ` : ""}${problem.path}: ${problem.message}\n`);
              return;
            }
            if (event.type === "resource:updated") updated.push(shownId(event.resource));
            render(event as RunEvent);
          },
        });
        return { ok: outcome.result.status === "converged", updated };
      };
      const first = await converge(1);
      if (!first.ok) {
        failures.push(`${cookbook.name}: the first converge failed`);
        continue;
      }
      const second = await converge(2);
      if (!second.ok) {
        failures.push(`${cookbook.name}: the second converge failed`);
        continue;
      }
      // The checks run either way: what they find helps explain a converge that does not settle.
      if (second.updated.length > 0) {
        failures.push(`${cookbook.name}: the second converge changed ${second.updated.length} resource${second.updated.length === 1 ? "" : "s"} (it must change nothing): ${second.updated.join(", ")}`);
      } else output.stdout(`${cookbook.name}: the second converge changed nothing\n`);
      const checks = filesIn(join(cookbook.dir, "verify"), /\.(ts|mts|js|mjs)$/);
      if (checks.length === 0) {
        output.stdout(`${cookbook.name}: no checks in ${relative(root, join(cookbook.dir, "verify"))}/\n`);
        continue;
      }
      const bundles = await bundleTests(root, checks, join(root, ".sous", "cache", "verify", cookbook.name));
      const code = await runNodeTests(bundles, { SOUS_VERIFY_TARGET: `nsenter://${machine.pid}`, SOUS_TEST_REPOSITORY: root }, output.stdout, root);
      if (code !== 0) failures.push(`${cookbook.name}: verify checks failed`);
    } finally {
      if (options.keep) {
        output.stdout(`${cookbook.name}: kept ${hostname}: nsenter -t ${machine.pid} -a bash, or sous converge nsenter://${machine.pid}; remove it with sous machine down ${hostname}\n`);
      } else await machines.stopMachine(machine);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (failures.length) {
    output.stdout(`Machine tests failed (${seconds} s):\n${failures.map((f) => `  ${f}\n`).join("")}`);
    return 1;
  }
  output.stdout(`Machine tests passed: ${cookbooks.length} cookbook${cookbooks.length === 1 ? "" : "s"} converged twice and verified in ${seconds} s\n`);
  return 0;
}
