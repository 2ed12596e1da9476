/**
 * `sous converge` on one machine: this one, a container on it (`nsenter://PID`,
 * `machine://NAME`) or a root directory (`--root DIR`). The command parses flags, opens the
 * target through the target registry, hands the run to the converge service (src/run) and
 * renders its events.
 */
import { SousError, UsageError, formatProblem } from "../core/errors.js";
import type { RunEvent } from "../core/events.js";
import { repositoryRoot } from "../run/repository.js";
import { humanReporter } from "../run/report/human.js";
import { convergeTarget, exitCodeOf, type StreamEvent } from "../run/converge.js";
import { readNodeJson } from "../run/node-json.js";
import { cliSearchSource } from "../run/search-source.js";
import { builtinTargets, rootSpec, type Target } from "../run/targets.js";

/** Options of `sous converge`, as parsed from the command line. */
export interface ConvergeCliOptions {
  repo?: string;
  runList?: string;
  environment?: string;
  nodeName?: string;
  jsonAttributes?: string;
  dryRun?: boolean;
  json?: boolean;
  logLevel?: string;
  why?: boolean;
  diff?: boolean;
  report?: string;
  backupDir?: string;
  color?: boolean;
  /** Converge this system root directory (through chroot) instead of this machine. */
  root?: string;
  /** A folder of nodes/ and data_bags/ JSON that recipes' search() reads instead of a server. */
  searchDir?: string;
}

/** Streams where the CLI writes. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stdout is a terminal that shows colors. */
  color: boolean;
  /** Whether stdout and stderr are the same terminal: what goes to both is then shown once. */
  sameTerminal?: boolean;
}

/** Raised for usage and configuration errors (exit code 2). */
export { UsageError };

const LEVELS = ["debug", "info", "warn"] as const;

/** The repository a converge command works from: --repo, or the nearest one above the working directory. */
export function repositoryOf(options: Pick<ConvergeCliOptions, "repo">): string {
  return repositoryRoot(options.repo);
}

/** Whether unified diffs are shown: on unless --no-diff, the same for every kind of target. */
export function showDiffs(options: Pick<ConvergeCliOptions, "diff">): boolean {
  return options.diff !== false;
}

/** The stream event as the engine's event, or undefined for events the human reporter does not render. */
export function engineEvent(event: StreamEvent): RunEvent | undefined {
  if (event.type === "run:invalid") return undefined;
  const { version: _version, host: _host, ...rest } = event;
  return rest as RunEvent;
}

/**
 * Runs one converge of this machine (or of `target`, a container on it such as
 * `nsenter://PID`, or of `--root DIR`) and returns the process exit code.
 */
export async function convergeCommand(options: ConvergeCliOptions, output: Output, target?: string): Promise<number> {
  const level = (options.logLevel ?? "info") as (typeof LEVELS)[number];
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got ${JSON.stringify(options.logLevel)}`);
  const repo = repositoryOf(options);
  const node = options.jsonAttributes ? readNodeJson(options.jsonAttributes) : undefined;
  if (target !== undefined && options.root !== undefined) throw new UsageError("--root and a machine target both name what to converge: pass one of them");

  let opened: Target;
  try {
    opened = await builtinTargets().open(target ?? (options.root !== undefined ? rootSpec(options.root) : "local"));
  } catch (error) {
    if (error instanceof SousError) throw new UsageError(error.message);
    throw error;
  }
  const render = humanReporter({ level, why: options.why === true, diff: showDiffs(options), color: output.color && options.color !== false, write: output.stdout, ...(output.sameTerminal ? {} : { writeError: output.stderr }) });
  let refused = false;
  try {
    const outcome = await convergeTarget(opened, options.runList ?? node?.runList, {
      repo,
      search: await cliSearchSource(repo, options.searchDir),
      ...(options.environment !== undefined ? { environment: options.environment } : {}),
      ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
      ...(node ? { normal: node.attributes } : {}),
      dryRun: options.dryRun === true,
      ...(options.backupDir !== undefined ? { backupDir: options.backupDir } : {}),
      ...(options.report !== undefined ? { report: options.report } : {}),
      events(event) {
        if (options.json) return output.stdout(`${JSON.stringify(event)}\n`);
        // A refused run is told on stderr below, with its problems, not as a failed run summary.
        if (event.type === "run:invalid") refused = true;
        const engine = engineEvent(event);
        if (engine && !refused) render(engine);
      },
    });
    if (outcome.problems && !options.json) {
      output.stderr(`${outcome.report.error?.message ?? "invalid recipes"}\n`);
      for (const problem of outcome.problems) output.stderr(`  ${formatProblem(problem)}\n`);
    }
    return exitCodeOf(outcome);
  } catch (error) {
    if (error instanceof SousError && !(error instanceof UsageError)) throw new UsageError(error.message);
    throw error;
  } finally {
    await opened.close();
  }
}
