/** The plan of a deploy (`--dry-run`): hosts, batches, hooks in order and what each phase would do; nothing is contacted or changed. */
import type { DeployHost } from "./hosts.js";
import { batchesOf, lockHost, migrationHost } from "./hosts.js";
import { layoutOf } from "./layout.js";
import type { HookSlot, LoadedApp } from "./load.js";

/** One phase of the plan. */
export interface PlanStep {
  phase: string;
  /** What it does, for people. */
  does: string;
  hosts: string[];
  hooks: Array<{ slot: HookSlot; name: string; once?: readonly string[]; roles?: readonly string[] }>;
}

/** What a deploy would do. */
export interface DeployPlan {
  app: string;
  stage?: string;
  repository: string;
  revision: string;
  deployTo: string;
  hosts: Array<{ host: string; roles: string[]; primaryOf: string[] }>;
  lockHost: string;
  migrationHost: string;
  batches: string[][];
  steps: PlanStep[];
}

/** Builds the plan of a deploy of `app` to `hosts`. */
export function deployPlan(app: LoadedApp, hosts: readonly DeployHost[], overrides: { revision?: string; batch?: number | string } = {}): DeployPlan {
  const layout = layoutOf(app.deployTo);
  const names = hosts.map((h) => h.name);
  const lock = lockHost(hosts).name;
  const migrator = migrationHost(hosts).name;
  const batches = batchesOf(names, overrides.batch ?? app.batch);
  const hooksOf = (...slots: HookSlot[]) => slots.flatMap((slot) => (app.hooks[slot] ?? []).map((h) => ({ slot, name: h.name, ...(h.once ? { once: h.once } : {}), ...(h.roles ? { roles: h.roles } : {}) })));
  const revision = overrides.revision ?? app.revision;
  const steps: PlanStep[] = [
    { phase: "check", does: `SSH, git, ${app.repository} reachable, ${layout.deployTo} writable, ${app.minFreeMiB} MiB free${app.linkedFiles.length ? `, shared files ${app.linkedFiles.join(", ")} present` : ""}`, hosts: names, hooks: hooksOf("after:check") },
    { phase: "lock", does: `mkdir ${layout.lock} on ${lock} (refused if held)`, hosts: [lock], hooks: hooksOf("after:lock") },
    { phase: "update", does: `fetch ${layout.repo} (bare mirror) and resolve ${revision}`, hosts: names, hooks: hooksOf("before:update", "after:update") },
    { phase: "release", does: `git archive into ${layout.releases}/<id>, write REVISION`, hosts: names, hooks: hooksOf("before:release", "after:release") },
    { phase: "link", does: app.linkedDirs.length + app.linkedFiles.length ? `link ${[...app.linkedDirs, ...app.linkedFiles].map((p) => `shared/${p}`).join(", ")}` : "nothing to link", hosts: names, hooks: hooksOf("before:link", "after:link") },
    { phase: "build", does: app.hooks.build?.length ? "build hooks in the new release" : "no build hooks", hosts: names, hooks: hooksOf("before:build", "build", "after:build") },
    { phase: "migrate", does: app.hooks.migrate?.length ? `migrations once, on ${migrator}` : "no migrations", hosts: [migrator], hooks: hooksOf("before:migrate", "migrate", "after:migrate") },
    {
      phase: "switch",
      does: `${batches.length} batch${batches.length === 1 ? "" : "es"}: ln -s + mv -T ${layout.current}, restart hooks, ${app.healthCheck ? `health check (${app.healthCheck.url ?? "command"}, ${app.healthCheck.retries} tries)` : "no health check"}; a failed batch is switched back`,
      hosts: names,
      hooks: hooksOf("before:switch", "before:restart", "restart", "after:restart", "after:switch"),
    },
    { phase: "clean", does: `mark the release good, keep ${app.keepReleases} good releases (never current or the previous good one), remove failed ones`, hosts: names, hooks: hooksOf("before:clean", "after:clean") },
    { phase: "unlock", does: `remove ${layout.lock} on ${lock}`, hosts: [lock], hooks: [] },
  ];
  return {
    app: app.name,
    ...(app.stage ? { stage: app.stage } : {}),
    repository: app.repository,
    revision,
    deployTo: app.deployTo,
    hosts: hosts.map((h) => ({ host: h.name, roles: h.roles, primaryOf: h.primaryOf })),
    lockHost: lock,
    migrationHost: migrator,
    batches,
    steps,
  };
}

/** The plan as text. */
export function formatPlan(plan: DeployPlan): string {
  const lines = [`Plan: deploy ${plan.app}${plan.stage ? ` (stage ${plan.stage})` : ""} ${plan.revision} of ${plan.repository} to ${plan.deployTo} on ${plan.hosts.length} host${plan.hosts.length === 1 ? "" : "s"} (dry run: nothing contacted or changed)`, "", "Hosts:"];
  const width = Math.max(...plan.hosts.map((h) => h.host.length));
  for (const h of plan.hosts) lines.push(`  ${h.host.padEnd(width)}  ${h.roles.join(",")}${h.primaryOf.length ? `  (primary: ${h.primaryOf.join(",")})` : ""}`);
  lines.push("", "Batches:");
  plan.batches.forEach((batch, i) => lines.push(`  ${i + 1}. ${batch.join(", ")}`));
  lines.push("", "Phases:");
  plan.steps.forEach((step, i) => {
    lines.push(`  ${i + 1}. ${step.phase}: ${step.does}`);
    for (const hook of step.hooks) lines.push(`       hook ${hook.slot}: ${hook.name}${hook.once ? ` (once, copies ${hook.once.join(", ")})` : ""}${hook.roles ? ` (roles ${hook.roles.join(",")})` : ""}`);
  });
  return `${lines.join("\n")}\n`;
}
