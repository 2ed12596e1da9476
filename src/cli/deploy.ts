/**
 * `sous deploy`: application deploys from apps/<name>.ts (deploy, rollback, releases, check,
 * lock, history). The deploy service (src/run/deploy.ts) loads, connects and runs the flows; this
 * module parses flags, renders events (live per-host progress, a summary table, or JSON lines) and turns outcomes into exit codes.
 */
import type { Command } from "commander";
import { Option } from "commander";
import { errorMessage, SousError } from "../core/errors.js";
// Types only: the service and the flows behind it are loaded only when a deploy command runs.
import type { ConnectOptions, DeployEvent, DeployResult, HeldLock, Loaded } from "../run/deploy.js";
import type { Output } from "./converge.js";
import { addSshOptions } from "./ssh-flags.js";
import type { SshCliOptions } from "./ssh-options.js";

/** With SOUS_TIMING set, a line on stderr per milestone of a run: milliseconds since the process started (where a run's time goes). */
function mark(output: Output, label: string): void {
  if (process.env.SOUS_TIMING) output.stderr(`sous: timing: ${performance.now().toFixed(0).padStart(5)} ms  ${label}\n`);
}

/** Flags of the deploy commands. */
interface DeployFlags extends SshCliOptions {
  stage?: string;
  revision?: string;
  dryRun?: boolean;
  batch?: string;
  rollbackAllOnFailure?: boolean;
  repo?: string;
  to?: string;
  force?: boolean;
  message?: string;
  limit?: string;
  serverUrl?: string;
  org?: string;
  client?: string;
  key?: string;
  record?: boolean;
  persist?: string;
}

async function load(name: string, flags: DeployFlags, output: Output): Promise<Loaded> {
  mark(output, "command parsed");
  if (process.env.SOUS_TIMING) process.once("exit", () => mark(output, "exit"));
  const { loadDeploy } = await import("../run/deploy.js");
  return loadDeploy(name, flags, (label) => mark(output, label));
}

/** SSH options, and the background SSH process to go through (--persist, SOUS_SSH_PERSIST; default 60 s; 0: connect directly). */
async function connectFlags(flags: DeployFlags): Promise<ConnectOptions> {
  const { sshOptions, persistSeconds } = await import("./ssh-options.js");
  return { ssh: sshOptions(flags), persistSeconds: persistSeconds(flags.persist) };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Renders a run's events: progress per host and phase while it runs, then a summary table; or JSON lines. */
async function reporter(output: Output, verb: string, total: number, json: boolean): Promise<{ sink: (event: DeployEvent) => void; stop: () => void }> {
  const { progressFor } = await import("./ssh-options.js");
  const progress = await progressFor(output, verb, total, json);
  const perHost = new Set(["switch", "health", "switch-back", "plan", "cleanup"]);
  // A phase's per-host lines wait for its end: the same line on every host is printed once, with their count.
  let held: Array<{ host: string; text: string }> = [];
  const flush = (phase: string) => {
    const texts = new Set(held.map((h) => h.text));
    if (held.length > 1 && texts.size === 1) {
      const names = held.map((h) => h.host).join(", ");
      progress.line(`  ${phase.padEnd(11)} ${names.length <= 60 ? names : `${held.length} hosts`}  ${held[0]!.text}`);
    }
    else for (const h of held) progress.line(`  ${phase.padEnd(11)} ${h.host}  ${h.text}`);
    held = [];
  };
  const sink = (event: DeployEvent) => {
    if (event.type === "phase:finish") mark(output, `${event.phase} done`);
    if (json) output.stdout(`${JSON.stringify(event)}\n`);
    switch (event.type) {
      case "phase:start":
        for (const host of event.hosts) {
          progress.phase(host, "working");
          progress.activity(host, `${event.phase}${event.batch ? ` (batch ${event.batch})` : ""}`);
        }
        break;
      case "host:activity":
        progress.activity(event.host, `${event.phase}: ${event.text}`);
        break;
      case "host:finish":
        if (!event.ok) progress.line(`  ${event.phase} FAILED on ${event.host}: ${event.error ?? ""}`);
        else if (perHost.has(event.phase)) held.push({ host: event.host, text: event.detail ?? "ok" });
        break;
      case "phase:finish": {
        flush(event.phase);
        const label = `${event.phase}${event.batch ? ` (batch ${event.batch})` : ""}`;
        progress.line(`${label.padEnd(22)} ${event.ok ? "ok" : `FAILED on ${event.failed.length}`}  ${seconds(event.durationMs)}`);
        break;
      }
      case "note":
        progress.line(`  ${event.text}`);
        break;
      // run:finish: each host's outcome is the summary table's, printed next (not a line per host before it too).
      default:
        break;
    }
  };
  return { sink, stop: () => progress.stop() };
}

function summaryTable(result: DeployResult): string {
  const rows = [["HOST", "ROLES", "OUTCOME", "CURRENT", "BEFORE"], ...result.hosts.map((h) => [h.host, h.roles.join(","), h.outcome, h.release ?? "-", h.previous ?? "-"])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
  const what = result.action === "deploy" ? `deploy of ${result.app}${result.release ? ` release ${result.release}` : ""}${result.revision ? ` (${result.revision.slice(0, 12)})` : ""}` : `rollback of ${result.app}${result.release ? ` to ${result.release}` : ""}`;
  const verdict = result.ok ? `${what}: done on ${result.hosts.length} host${result.hosts.length === 1 ? "" : "s"} in ${seconds(result.durationMs)}` : `${what} FAILED: ${result.error ?? "see above"}`;
  // The same failure on several hosts (a broken build everywhere) is shown once, under all their names.
  const byError = new Map<string, string[]>();
  for (const h of result.hosts) if (h.error) byError.set(h.error, [...(byError.get(h.error) ?? []), h.host]);
  const failures = [...byError].map(([error, hosts]) => `\n${hosts.join(", ")}:\n  ${error.split("\n").join("\n  ")}`);
  return `\n${lines.join("\n")}\n${failures.join("")}${failures.length ? "\n" : ""}\n${verdict}\n`;
}

/**
 * Runs a deploy or rollback with its connections open, Ctrl-C and SIGTERM handled: the first
 * stops the run at the next step (what is in flight finishes, a started switch is switched back,
 * the lock is freed); a second frees the lock at once and exits.
 */
async function runFlow(output: Output, flags: DeployFlags, loaded: Loaded, action: "deploy" | "rollback"): Promise<number> {
  const service = await import("../run/deploy.js");
  const { app, hosts } = loaded;
  const json = flags.json === true;
  const report = await reporter(output, `${action === "deploy" ? "Deploying" : "Rolling back"} ${app.name}${app.stage ? ` (${app.stage})` : ""} on`, hosts.length, json);
  const controller = new AbortController();
  let held: HeldLock | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      output.stderr(`\nsous: ${signal}: stopping after the current step (a second ${signal} frees the lock and exits at once)\n`);
      controller.abort();
      return;
    }
    const exit = () => process.exit(130);
    if (held) service.releaseHeldLock(held).then(exit, exit);
    else exit();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let result: DeployResult;
  try {
    result = await service.runDeploy(loaded, await connectFlags(flags), {
      action,
      events: report.sink,
      signal: controller.signal,
      onLock: (lock) => (held = lock),
      mark: (label) => mark(output, label),
      ...(flags.batch ? { batch: flags.batch } : {}),
      ...(flags.revision ? { revision: flags.revision } : {}),
      ...(flags.to ? { to: flags.to } : {}),
      rollbackAllOnFailure: flags.rollbackAllOnFailure === true,
      force: flags.force === true,
    });
  } finally {
    mark(output, "connections closed");
    report.stop();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  if (!json) output.stdout(summaryTable(result));
  if (loaded.client && flags.record !== false) {
    try {
      const record = await service.recordRun(loaded.client, result);
      if (!json) output.stdout(`recorded on the server as ${record.id}\n`);
    } catch (error) {
      output.stderr(`sous: warning: the ${action} was not recorded on the server: ${errorMessage(error)}\n`);
    }
  }
  if (controller.signal.aborted) return 130;
  return result.ok ? 0 : 1;
}

/**
 * A subcommand's action with its flags merged with those given before it: commander hands the
 * flags that `deploy` also defines (`--repo`, `--json`...) to `deploy`, wherever they are written.
 */
function withGlobals(fn: (name: string, flags: DeployFlags) => Promise<void>, takes: ReadonlyArray<(typeof DEPLOY_ONLY)[number]> = []) {
  return (name: string, _flags: DeployFlags, command: Command) => {
    // Taken by deploy wherever they are written, so commander would not refuse them here: a
    // rollback given --dry-run must not roll back, nor releases given --batch say nothing.
    const deploy = command.parent;
    for (const key of DEPLOY_ONLY) {
      if (!takes.includes(key) && deploy?.getOptionValueSource(key) === "cli") {
        const flag = deploy.options.find((o) => o.attributeName() === key)?.long ?? key;
        throw new SousError("usage", `${flag} is not an option of sous deploy ${command.name()}${takes.length ? ` (it takes ${takes.map((k) => deploy.options.find((o) => o.attributeName() === k)?.long ?? k).join(", ")})` : ""}; see sous deploy ${command.name()} --help`);
      }
    }
    return fn(name, command.optsWithGlobals() as DeployFlags);
  };
}

/** The options of sous deploy itself that its subcommands do not share unless they say so (--no-record is harmless where nothing is recorded). */
const DEPLOY_ONLY = ["revision", "batch", "rollbackAllOnFailure", "dryRun"] as const;

/** Options every deploy command takes. */
function common(command: Command): Command {
  return addSshOptions(command)
    .option("--stage <name>", "stage of the app (its overrides from stages: { ... })")
    .option("--repo <dir>", "repository holding apps/ (default: this folder or the nearest repository)")
    .option("--json", "JSON on stdout (events as lines for runs), progress on stderr")
    .option("--server-url <url>", "Sous server for search queries in hosts and the deploy history")
    .option("--org <name>", "organization on the server")
    .option("--client <name>", "client name that signs requests")
    .option("--persist <seconds>", "go through a background process that keeps the SSH connections open this long for the next command (env SOUS_SSH_PERSIST; default 60; 0: connect afresh)")
    .addOption(new Option("--key <file>", "the client's private key"));
}

/** Adds `sous deploy` and its subcommands to the program. */
export function registerDeployCommands(program: Command, output: Output, exit: (code: number) => void): void {
  const deployCommand = common(
    program
      .command("deploy")
      .argument("[app]", "application: apps/APP.ts")
      .description("Deploy an application from git to its hosts (apps/APP.ts): releases/, shared/, an atomic current, rolling batches, rollback")
      .option("--revision <ref>", "branch, tag or commit to deploy (default: the app's revision, or main)")
      .option("--batch <n>", "hosts switched at once: a count, or a share like 25% (default: the app's batch, or all)")
      .option("--rollback-all-on-failure", "when a batch fails its health check, switch the batches before it back too")
      .option("--dry-run", "print the plan (hosts, batches, hooks in order, what each phase would do); contact and change nothing")
      .option("--no-record", "do not record the deploy on the server"),
  ).action(async (name: string | undefined, flags: DeployFlags) => {
    if (!name) {
      const { applicationsOf } = await import("../run/deploy.js");
      const known = await applicationsOf(flags.repo);
      throw new SousError("usage", `which application? sous deploy APP (apps/APP.ts)${known.length ? `; this repository has ${known.join(", ")}` : ""}; see sous deploy --help`);
    }
    const loaded = await load(name, flags, output);
    if (flags.dryRun) {
      const { deployPlanOf } = await import("../run/deploy.js");
      const { plan, text } = await deployPlanOf(loaded, { ...(flags.revision ? { revision: flags.revision } : {}), ...(flags.batch ? { batch: flags.batch } : {}) });
      output.stdout(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : text);
      return exit(0);
    }
    exit(await runFlow(output, flags, loaded, "deploy"));
  });

  common(
    deployCommand
      .command("rollback")
      .argument("<app>", "application")
      .description("Switch every host back to its previous good release (or --to RELEASE), atomically, in the app's batches")
      .option("--to <release>", "the release id to go back to")
      .option("--force", "allow a release that is not marked good")
      .option("--batch <n>", "hosts switched at once")
      .option("--dry-run", "read each host's releases and print where each would go; change nothing")
      .option("--no-record", "do not record the rollback on the server"),
  ).action(
    withGlobals(
      async (name, flags) => {
        const loaded = await load(name, flags, output);
        if (!flags.dryRun) return exit(await runFlow(output, flags, loaded, "rollback"));
        const { rollbackPlanOf } = await import("../run/deploy.js");
        const plan = await rollbackPlanOf(loaded, await connectFlags(flags), { ...(flags.to ? { to: flags.to } : {}), force: flags.force === true });
        if (flags.json) output.stdout(`${JSON.stringify(plan, null, 2)}\n`);
        else {
          output.stdout(`Plan: rollback ${loaded.app.name}${loaded.app.stage ? ` (stage ${loaded.app.stage})` : ""} on ${plan.length} host${plan.length === 1 ? "" : "s"} (dry run: releases read, nothing changed)\n`);
          const groups = new Map<string, string[]>();
          for (const p of plan) {
            const line = p.error ? `REFUSED: ${p.error}` : p.target === p.current ? `stays on ${p.target}` : `${p.current ?? "(no current)"} -> ${p.target}`;
            groups.set(line, [...(groups.get(line) ?? []), p.host]);
          }
          for (const [line, hosts] of groups) output.stdout(`  ${hosts.join(", ")}: ${line}\n`);
        }
        exit(plan.every((p) => !p.error) ? 0 : 1);
      },
      ["batch", "dryRun"],
    ),
  );

  common(deployCommand.command("releases").argument("<app>", "application").description("List each host's releases: current marked, good and failed")).action(withGlobals(async (name, flags) => {
    const loaded = await load(name, flags, output);
    const { releasesOf } = await import("../run/deploy.js");
    const results = await releasesOf(loaded, await connectFlags(flags));
    if (flags.json) output.stdout(`${JSON.stringify(results.map((r) => ({ host: r.host.name, ...(r.value ? { current: r.value.current, releases: r.value.releases, failed: r.value.failed } : {}), ...(r.error ? { error: r.error } : {}) })), null, 2)}\n`);
    else {
      // Hosts whose listings are the same (the usual case after a deploy) are shown once, under all their names.
      const groups = new Map<string, { names: string[]; lines: string[] }>();
      for (const r of results) {
        const lines: string[] = [];
        if (r.error) lines.push(`  FAILED: ${r.error}`);
        else if (r.value!.releases.length === 0) lines.push("  no releases");
        const rows = [
          ...(r.value?.releases ?? []).map((release) => ({ id: release.id, line: `  ${release.id === r.value!.current ? "*" : " "} ${release.id}  ${release.status.padEnd(7)}  ${(release.revision ?? "").slice(0, 12).padEnd(12)}  ${release.by ?? ""}${release.rolledBackAt ? `  (rolled back from at ${release.rolledBackAt}: rollback skips it, --to takes it)` : ""}` })),
          ...(r.value?.failed ?? []).map((entry) => ({ id: entry.release, line: `  x ${entry.release}  ${entry.outcome.padEnd(7)}  ${(entry.revision ?? "").slice(0, 12).padEnd(12)}  ${entry.by}  (removed${entry.message ? `: ${entry.message.split("\n")[0]}` : ""})` })),
        ].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
        lines.push(...rows.map((row) => row.line));
        if (r.value?.currentTarget) lines.push(`  current -> ${r.value.currentTarget} (not a release of this layout)`);
        const key = `${r.host.roles.join(",")}\n${lines.join("\n")}`;
        const group = groups.get(key) ?? { names: [], lines };
        group.names.push(r.host.name);
        groups.set(key, group);
      }
      for (const [key, group] of groups) {
        const roles = key.slice(0, key.indexOf("\n"));
        const names = group.names.length > 1 ? `${group.names.length} hosts: ${group.names.join(", ")}` : group.names[0]!;
        output.stdout(`${names} (${roles})\n${group.lines.map((l) => `${l}\n`).join("")}`);
      }
      output.stdout("(* current, x a failed deploy whose release was removed)\n");
    }
    exit(results.every((r) => !r.error) ? 0 : 1);
  }));

  common(deployCommand.command("check").argument("<app>", "application").description("Check every host: SSH, git, the repository reachable, paths writable, free disk, linked files, the lock")).action(withGlobals(async (name, flags) => {
    const loaded = await load(name, flags, output);
    const { checkApp } = await import("../run/deploy.js");
    const report = await reporter(output, `Checking ${loaded.app.name} on`, loaded.hosts.length, flags.json === true);
    const { result, lockText } = await checkApp(loaded, await connectFlags(flags), report.sink);
    report.stop();
    if (!flags.json) output.stdout(`${summaryTable(result).replace(/\n[^\n]*\n$/, "\n")}${result.ok ? "check: ok" : `check FAILED: ${result.error}`}; ${lockText}\n`);
    exit(result.ok ? 0 : 1);
  }));

  const lock = deployCommand.command("lock").description("Show, take or free an application's deploy lock (on its primary host)");
  for (const verb of ["status", "acquire", "release"] as const) {
    const sub = common(lock.command(verb).argument("<app>", "application"));
    if (verb === "status") sub.description("Who holds the lock, since when, for what");
    if (verb === "acquire") sub.description("Take the lock by hand (deploys are refused until it is released)").option("-m, --message <text>", "why: shown to anyone refused");
    if (verb === "release") sub.description("Free your manual lock, or a stale one whose deploy process is gone (--force: anyone's)").option("--force", "free it whoever holds it");
    sub.action(withGlobals(async (name, flags) => {
      const loaded = await load(name, flags, output);
      const { lockCommand } = await import("../run/deploy.js");
      const r = await lockCommand(loaded, await connectFlags(flags), verb, { ...(flags.message ? { message: flags.message } : {}), force: flags.force === true });
      if (r.error) {
        output.stderr(`sous: ${r.error}\n`);
        return exit(1);
      }
      output.stdout(flags.json ? `${JSON.stringify(r.value!.json, null, 2)}\n` : `${r.value!.text}\n`);
      exit(0);
    }));
  }

  deployCommand
    .command("init")
    .argument("<app>", "application name: writes apps/APP.ts")
    .description("Write apps/APP.ts: the settings every app needs, the others as commented examples")
    .option("--repository <url>", "git URL of the application")
    .option("--host <target...>", "ssh://user@host[:port] of each host (repeat or list)")
    .option("--deploy-to <path>", "where releases/, shared/ and current go on each host (default /srv/APP)")
    .option("--repo <dir>", "repository to write apps/ in (default: this folder or the nearest repository)")
    .action(async (name: string, _flags: unknown, command: Command) => {
      // --repo also belongs to sous deploy itself, which takes it when given after init.
      const flags = command.optsWithGlobals() as { repository?: string; host?: string[]; deployTo?: string; repo?: string };
      const { initApp } = await import("../run/scaffold.js");
      const [file, ...others] = initApp(flags.repo, name, { ...(flags.repository ? { repository: flags.repository } : {}), ...(flags.host ? { hosts: flags.host } : {}), ...(flags.deployTo ? { deployTo: flags.deployTo } : {}) });
      output.stdout(`Created ${file}${others.length ? ` (and ${others.join(", ")}, for your editor)` : ""}

Next: edit it, then
  sous deploy check ${name}        # SSH, git, paths, free disk, linked files, the lock
  sous deploy ${name} --dry-run    # the plan, nothing changed
  sous deploy ${name}
`);
      exit(0);
    });

  common(deployCommand.command("history").argument("<app>", "application").description("Deploys and rollbacks of the app recorded on the server").option("--limit <n>", "how many (default 20)")).action(withGlobals(async (name, flags) => {
    const { deployHistoryOf, historyLimit, hostHistoryOf } = await import("../run/deploy.js");
    const records = await deployHistoryOf(name, flags.limit, flags).catch(async (error: unknown) => {
      if (!(error instanceof SousError) || error.code !== "no_server") throw error;
      // No server: the primary host's revisions.log holds every deploy and rollback of this layout.
      const limit = historyLimit(flags.limit);
      const { host, entries } = await hostHistoryOf(await load(name, flags, output), await connectFlags(flags), limit);
      if (flags.json) output.stdout(`${JSON.stringify({ source: "revisions.log", host, entries }, null, 2)}\n`);
      else {
        output.stdout(`from revisions.log on ${host} (no server configured; with one, sous deploy history shows what every deploy recorded there)\n`);
        if (entries.length === 0) output.stdout(`no deploys of ${name} on ${host}\n`);
        for (const e of entries) output.stdout(`${e.at}  ${e.action.padEnd(8)}  ${e.outcome.padEnd(13)}  ${e.release.padEnd(14)}  ${(e.revision ?? "").slice(0, 12).padEnd(12)}  ${e.by}${e.from ? `  from ${e.from}` : ""}${e.message ? `  (${e.message.split("\n")[0]})` : ""}\n`);
      }
      return undefined;
    });
    if (!records) return exit(0);
    if (flags.json) output.stdout(`${JSON.stringify(records, null, 2)}\n`);
    else if (records.length === 0) output.stdout(`no deploys of ${name} recorded on the server\n`);
    else {
      for (const r of records) {
        const failed = r.hosts.filter((h) => h.outcome === "failed" || h.outcome === "switched-back").length;
        output.stdout(`${r.started_at}  ${r.action.padEnd(8)}  ${r.ok ? "ok    " : "FAILED"}  ${(r.release ?? "-").padEnd(14)}  ${(r.revision ?? "").slice(0, 12).padEnd(12)}  ${r.by}  ${r.hosts.length} hosts${failed ? ` (${failed} failed)` : ""}  ${(r.duration_ms / 1000).toFixed(1)} s  stage ${r.stage}\n`);
      }
    }
    exit(0);
  }));
}
