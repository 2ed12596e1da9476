/** What the fast tier's fixture tests share: a converge on a fixture host, reported as change rows and commands. */
import assert from "node:assert/strict";
import type { Resources } from "../../src/dsl.js";
import { convergeWith } from "../helpers.js";
import type { FixtureHost } from "./fixture-host.js";

/** Where the fixture tests keep backups (inside the fixture host). */
export const BACKUPS = "/var/lib/sous/backup";

/** Converges `declare` on `host`: the changes each updated resource planned, and the commands run. */
export async function converge(host: FixtureHost, declare: (resources: Resources) => void, dryRun = false) {
  const from = host.commands.length;
  const { result, events } = await convergeWith(declare, { host, dryRun, backupDir: BACKUPS });
  const failed = events.find((e) => e.type === "resource:failed");
  assert.equal(result.status, "converged", failed ? JSON.stringify(failed) : "the run failed");
  const changes: Record<string, unknown[][]> = {};
  for (const event of events) if (event.type === "resource:updated") (changes[event.resource.id] ??= []).push(...event.changes.map((c) => [c.property, c.from, c.to]));
  return { changes, commands: host.commands.slice(from), inputs: host.inputs.slice(from), events };
}

/** The commands that change something (reads filtered out by their first words). */
export const writes = (commands: string[][], reads: readonly string[]) => commands.filter((argv) => !reads.some((read) => argv.join(" ").startsWith(read)));
