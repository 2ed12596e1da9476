/**
 * The converge engine: walks the frozen collection in order, evaluates guards, reads,
 * plans and (unless this is a dry run) applies each resource, retries, queues and runs
 * notifications. It is the only caller of a provider's apply step.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, normalize, sep } from "node:path";
import { CommandFailedError, type Host, succeeded } from "../host/host.js";
import { allResources, type FrozenCollection } from "./collection.js";
import { errorMessage, SousError } from "./errors.js";
import { checkRequirements } from "./preconditions.js";
import type { EventSink, FailureInfo, ResourceInfo, RunCounts } from "./events.js";
import type { PropertySpec } from "./properties.js";
import { type Change, type DeclaredResource, type Guard, type Plan, type ProviderContext, resourcePath } from "./resource.js";

/** Options of one converge. */
export interface ConvergeOptions {
  host: Host;
  collection: FrozenCollection;
  /** Plans everything and changes nothing. */
  dryRun?: boolean;
  events: EventSink;
  /** Node name for the report. */
  node?: string;
  runId?: string;
  /** Where previous versions of changed files are kept (default /var/lib/sous/backup). */
  backupDir?: string;
}

/** How a run ended. */
export interface RunResult {
  runId: string;
  status: "converged" | "failed";
  counts: RunCounts;
  durationMs: number;
}

type Outcome = "updated" | "up-to-date" | "skipped" | "failed" | "failed-ignored";

/** Which outcome a resource is counted under when several of its actions ran. */
const OUTCOME_RANK: Record<Outcome, number> = { "up-to-date": 0, skipped: 1, updated: 2, "failed-ignored": 3, failed: 3 };

const REDACTED = "(sensitive value hidden)";
const MAX_NOTIFICATION_ROUNDS = 100;
/** Immediate notifications nested deeper than this are a loop (each notified action notifying again). */
const MAX_IMMEDIATE_DEPTH = 50;

/** A failure of one resource, as the engine reports it. */
export class ResourceFailedError extends SousError {
  constructor(
    readonly resource: DeclaredResource,
    readonly action: string,
    readonly failure: FailureInfo,
  ) {
    super("resource-failed", `${resourcePath(resource)} (${resource.location ? `${resource.location.file}:${resource.location.line}` : "unknown location"}) action ${action} failed: ${failure.message}`);
  }
}

/** Converges a frozen collection on a host. */
export async function converge(options: ConvergeOptions): Promise<RunResult> {
  const run = new Run(options);
  return run.execute();
}

/**
 * Runs only the providers' prepare steps (templates rendered, cookbook files read) and
 * returns what each produced, for in-memory tests; `host` must never be needed by them.
 * A failing step is reported through `events` and rethrown.
 */
export async function prepareOnly(options: Omit<ConvergeOptions, "dryRun">): Promise<ReadonlyMap<DeclaredResource, unknown>> {
  const run = new Run({ ...options, dryRun: true });
  return run.prepareOnly();
}

class Run {
  private readonly runId: string;
  private readonly dryRun: boolean;
  /** Each resource's strongest outcome so far: a notified action can run on a resource that already ran. */
  private readonly outcomes = new Map<DeclaredResource, Outcome>();
  private readonly delayed: DelayedQueue = new Map();
  /** The custom resources whose actions are running, outermost first: their delayed notifications and what they updated. */
  private readonly scopes: Array<{ owner: DeclaredResource; delayed: DelayedQueue; updated: string[] }> = [];
  /** Every resource of the run, inner resources of custom resources included. */
  private readonly everyResource: DeclaredResource[];
  private failure: ResourceFailedError | undefined;
  /** What each resource's prepare step returned. */
  private readonly prepared = new Map<DeclaredResource, unknown>();
  /** The immediate notifications being run, outermost first (`action type[name]`). */
  private readonly immediateChain: string[] = [];
  /** In a dry run, the resources that would have changed so far (in order). */
  private readonly notYetChanged: Array<{ id: string; type: string }> = [];
  /** In a dry run, the resources that would have changed so far, for what later ones need (a user created earlier). */
  private readonly wouldChange: DeclaredResource[] = [];
  /** Whether any provider's apply step was called: until then a failed run changed nothing. */
  private applyStarted = false;
  /** A dry run found a resource that the real run would refuse. */
  private dryRunRefused = false;
  /** Cookbook files read during this run: the workstation's sources do not change mid-run. */
  private readonly sources = new Map<string, Promise<Buffer>>();

  constructor(private readonly options: ConvergeOptions) {
    this.runId = options.runId ?? randomUUID();
    this.dryRun = options.dryRun === true;
    this.everyResource = allResources(options.collection);
  }

  async execute(): Promise<RunResult> {
    const started = performance.now();
    const { events, collection } = this.options;
    events({ type: "run:start", runId: this.runId, node: this.options.node ?? this.options.host.name, dryRun: this.dryRun, resourceCount: this.everyResource.length, time: new Date().toISOString() });

    await this.prepareAll();
    // this.failure, not the outcome: an immediately notified resource may fail while its source reports "updated".
    outer: for (const resource of this.failure ? [] : collection.resources) {
      for (const action of resource.actions) {
        await this.runAction(resource, action, undefined);
        if (this.failure) break outer;
      }
    }
    await this.runDelayed(this.delayed);
    const pendingNotifications = [...this.delayed.values()].map((n) => `${n.action} ${resourcePath(n.target)} (from ${resourcePath(n.source)})`);
    const status = this.failure || this.dryRunRefused ? "failed" : "converged";
    const durationMs = performance.now() - started;
    const counts = this.tally();
    events({
      type: "run:finish",
      runId: this.runId,
      status,
      dryRun: this.dryRun,
      counts,
      durationMs,
      pendingNotifications,
      ...(this.failure ? { error: { ...this.failure.failure, resource: this.failure.resource.id, location: this.failure.resource.location } } : {}),
      // Reads, plans and guards change nothing: every change goes through a provider's apply.
      ...(status === "failed" && !this.dryRun && !this.applyStarted ? { nothingChanged: true } : {}),
    });
    return { runId: this.runId, status, counts: { ...counts }, durationMs };
  }

  /** Runs a queue of delayed notifications until it stays empty; after a failure, what did not run stays queued. */
  private async runDelayed(queue: DelayedQueue): Promise<void> {
    let rounds = 0;
    while (!this.failure && queue.size > 0 && rounds++ < MAX_NOTIFICATION_ROUNDS) {
      const batch = [...queue.entries()];
      queue.clear();
      for (const [index, [, { target, action, sources }]] of batch.entries()) {
        await this.runAction(target, action, sources);
        if (this.failure) {
          // The rest of this batch never ran: put it back first, so the report lists it as pending.
          const queuedSince = [...queue.entries()];
          queue.clear();
          for (const [key, entry] of [...batch.slice(index + 1), ...queuedSince]) if (!queue.has(key)) queue.set(key, entry);
          break;
        }
      }
    }
    if (!this.failure && queue.size > 0) {
      const [first] = queue.values();
      const queued = [...queue.values()].map((n) => `${n.action} ${resourcePath(n.target)}`).join(", ");
      this.failRun(first!.target, first!.action, new SousError("notification-loop", `delayed notifications keep queueing each other (a loop): still queued after ${MAX_NOTIFICATION_ROUNDS} rounds: ${queued}`));
    }
  }

  /**
   * One action of a custom resource: its inner resources in order, then the delayed
   * notifications among them (at the end of the action, as Chef runs a custom resource's).
   * Updated when any inner resource was; notifications from it go out after its inner ones.
   */
  private async runComposite(resource: DeclaredResource, action: string, notifiedBy: readonly DeclaredResource[] | undefined, started: number): Promise<Outcome> {
    const { events } = this.options;
    const info = resourceInfo(resource);
    const scope = { owner: resource, delayed: new Map() as DelayedQueue, updated: [] as string[] };
    this.scopes.push(scope);
    try {
      inner: for (const child of resource.children?.get(action)?.resources ?? []) {
        for (const childAction of child.actions) {
          await this.runAction(child, childAction, undefined);
          if (this.failure) break inner;
        }
      }
      await this.runDelayed(scope.delayed);
    } finally {
      this.scopes.pop();
      // Notifications that a failure kept from running are listed with the run's own.
      for (const [key, entry] of scope.delayed) if (!this.delayed.has(key)) this.delayed.set(key, entry);
    }
    if (this.failure) {
      const cause = this.failure;
      this.record(resource, resource.ignoreFailure ? "failed-ignored" : "failed");
      const failure = { code: "inner-resource-failed", message: `${resourcePath(cause.resource)} failed: ${cause.failure.message}` };
      events({ type: "resource:failed", resource: info, action, ignored: resource.ignoreFailure, error: failure, durationMs: performance.now() - started });
      if (!resource.ignoreFailure) return "failed";
      this.failure = undefined;
      return "failed-ignored";
    }
    if (scope.updated.length === 0) {
      this.record(resource, "up-to-date");
      events({ type: "resource:up-to-date", resource: info, action, durationMs: performance.now() - started });
      return "up-to-date";
    }
    this.record(resource, "updated");
    events({
      type: "resource:updated",
      resource: info,
      action,
      dryRun: this.dryRun,
      changes: [],
      updatedInner: [...new Set(scope.updated)],
      ...(notifiedBy?.length ? { notifiedBy: notifiedBy.map(resourcePath).join(", ") } : {}),
      durationMs: performance.now() - started,
    });
    await this.notify(resource);
    return "updated";
  }

  private async runAction(resource: DeclaredResource, action: string, notifiedBy: readonly DeclaredResource[] | undefined): Promise<Outcome> {
    const { events } = this.options;
    const info = resourceInfo(resource);
    const started = performance.now();

    if (action === "nothing") {
      this.record(resource, "up-to-date");
      events({ type: "resource:up-to-date", resource: info, action, durationMs: 0 });
      return "up-to-date";
    }

    if (resource.onlyIf !== undefined || resource.notIf !== undefined) {
      try {
        const skip = await this.evaluateGuards(resource);
        if (skip) {
          this.record(resource, "skipped");
          events({ type: "resource:skipped", resource: info, action, guard: skip.guard, reason: skip.reason });
          return "skipped";
        }
      } catch (error) {
        return this.fail(resource, action, error, started);
      }
    }

    if (resource.resourceType.composite) return this.runComposite(resource, action, notifiedBy, started);
    const context = this.contextFor(resource);
    const provider = resource.resourceType.provider;
    const attempts = resource.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const current = await provider.read(context, resource.properties, action);
        const plan = provider.plan(current, resource.properties, action);
        if (plan.changes.length === 0) {
          this.record(resource, "up-to-date");
          events({ type: "resource:up-to-date", resource: info, action, durationMs: performance.now() - started, ...(plan.reason ? { reason: plan.reason } : {}) });
          return "up-to-date";
        }
        if (this.dryRun && resource.resourceType.requires) {
          // What the real run would refuse (an owner that does not exist, a missing directory
          // or command): every problem of the resource, and the run goes on to find the others.
          const check = await checkRequirements(context.host, resource.resourceType.requires(resource.properties, action), this.wouldChange);
          if (check.problems.length) {
            this.dryRunRefused = true;
            this.record(resource, "failed");
            const error = { code: "would-fail", message: `the real run would fail: ${check.problems.join("; ")}` };
            events({ type: "resource:failed", resource: info, action, ignored: false, error, durationMs: performance.now() - started });
            return "failed";
          }
          if (check.assumptions.length) plan.assumptions = [...(plan.assumptions ?? []), ...check.assumptions];
        }
        if (!this.dryRun) {
          this.applyStarted = true;
          await provider.apply(context, plan, resource.properties, action, current);
        }
        this.record(resource, "updated");
        if (this.dryRun) {
          this.notYetChanged.push({ id: resource.id, type: resource.resourceType.name });
          this.wouldChange.push(resource);
        }
        const redacted = redact(resource, plan);
        events({
          type: "resource:updated",
          resource: info,
          action,
          dryRun: this.dryRun,
          changes: redacted.changes,
          ...(redacted.diff ? { diff: redacted.diff } : {}),
          ...(notifiedBy?.length ? { notifiedBy: notifiedBy.map(resourcePath).join(", ") } : {}),
          ...(plan.assumptions?.length ? { assumptions: plan.assumptions.map((text) => mask(resource, text)) } : {}),
          ...(plan.reason ? { reason: mask(resource, plan.reason) } : {}),
          durationMs: performance.now() - started,
        });
        await this.notify(resource);
        return "updated";
      } catch (error) {
        if (attempt < attempts) {
          events({ type: "resource:retry", resource: info, action, attempt, error: failureInfo(resource, error).message });
          await new Promise((resolve) => setTimeout(resolve, resource.retryDelaySeconds * 1000));
          continue;
        }
        return this.fail(resource, action, error, started);
      }
    }
  }

  /** Fails the whole run, even when the resource would ignore its own failures: a loop is not the resource's. */
  private failRun(resource: DeclaredResource, action: string, error: SousError): void {
    this.fail(resource, action, error, performance.now());
    this.failure ??= new ResourceFailedError(resource, action, failureInfo(resource, error));
  }

  private record(resource: DeclaredResource, outcome: Outcome): void {
    if (outcome === "updated") for (const scope of this.scopes) scope.updated.push(resourcePath(resource));
    const previous = this.outcomes.get(resource);
    if (previous === undefined || OUTCOME_RANK[outcome] > OUTCOME_RANK[previous]) this.outcomes.set(resource, outcome);
  }

  /** Counts resources, not actions, so that the tallies add up to at most the number of resources. */
  private tally(): RunCounts {
    const counts: RunCounts = { resources: this.everyResource.length, updated: 0, upToDate: 0, skipped: 0, failed: 0 };
    for (const outcome of this.outcomes.values()) {
      if (outcome === "updated") counts.updated += 1;
      else if (outcome === "up-to-date") counts.upToDate += 1;
      else if (outcome === "skipped") counts.skipped += 1;
      else counts.failed += 1;
    }
    return counts;
  }

  async prepareOnly(): Promise<ReadonlyMap<DeclaredResource, unknown>> {
    await this.prepareAll();
    if (this.failure) throw this.failure;
    return this.prepared;
  }

  /**
   * Runs every provider's prepare step before anything changes; each failure is reported
   * (all of them, not only the first), and any unignored one stops the run untouched.
   */
  private async prepareAll(): Promise<void> {
    let failure: ResourceFailedError | undefined;
    for (const resource of this.everyResource) {
      const { provider } = resource.resourceType;
      const actions = resource.actions.filter((a) => a !== "nothing");
      if (!provider.prepare) continue;
      const started = performance.now();
      try {
        this.prepared.set(resource, await provider.prepare(this.contextFor(resource), resource.properties, actions));
      } catch (error) {
        this.fail(resource, actions[0] ?? "nothing", error, started);
        failure ??= this.failure;
        this.failure = undefined;
      }
    }
    this.failure = failure;
  }

  private fail(resource: DeclaredResource, action: string, error: unknown, started: number): Outcome {
    const failure = failureInfo(resource, error);
    this.record(resource, "failed");
    this.options.events({ type: "resource:failed", resource: resourceInfo(resource), action, ignored: resource.ignoreFailure, error: failure, durationMs: performance.now() - started });
    if (resource.ignoreFailure) return "failed-ignored";
    this.failure = new ResourceFailedError(resource, action, failure);
    return "failed";
  }

  private async notify(source: DeclaredResource): Promise<void> {
    const list = this.options.collection.notifications.get(source) ?? [];
    for (const notification of list) {
      const { target, action, timing } = notification;
      this.options.events({ type: "notification:queued", source: resourcePath(source), target: resourcePath(target), action, timing });
      if (timing === "immediately") {
        const step = `${action} ${resourcePath(target)}`;
        if (this.immediateChain.length >= MAX_IMMEDIATE_DEPTH) {
          const chain = [...this.immediateChain.slice(-6), step].join(" → ");
          this.failRun(target, action, new SousError("notification-loop", `immediate notifications nested ${MAX_IMMEDIATE_DEPTH} deep (a loop): ... → ${chain}`));
          return;
        }
        this.immediateChain.push(step);
        try {
          await this.runAction(target, action, [source]);
        } finally {
          this.immediateChain.pop();
        }
        if (this.failure) return;
      } else {
        // Delayed to the end of the custom resource action whose inner resource it is, or of the run.
        const owner = target.parents.at(-1);
        const queue = [...this.scopes].reverse().find((scope) => scope.owner === owner)?.delayed ?? this.delayed;
        const key = `${resourcePath(target)}\u0000${action}`;
        const queued = queue.get(key);
        if (queued) {
          if (!queued.sources.includes(source)) queued.sources.push(source);
        } else queue.set(key, { target, action, source, sources: [source] });
      }
    }
  }

  private async evaluateGuards(resource: DeclaredResource): Promise<{ guard: "onlyIf" | "notIf"; reason: string } | undefined> {
    if (resource.onlyIf !== undefined) {
      const passed = await this.guardPasses(resource, resource.onlyIf);
      if (!passed) return { guard: "onlyIf", reason: `onlyIf ${describeGuard(resource.onlyIf)} was false` };
    }
    if (resource.notIf !== undefined) {
      const passed = await this.guardPasses(resource, resource.notIf);
      if (passed) return { guard: "notIf", reason: `notIf ${describeGuard(resource.notIf)} was true` };
    }
    return undefined;
  }

  private async guardPasses(resource: DeclaredResource, guard: Guard): Promise<boolean> {
    if (typeof guard === "function") return Boolean(await guard());
    const command = typeof guard === "string" ? { shell: guard } : guard;
    const result = await this.options.host.exec(command, resource.resourceType.guardOptions?.(resource.properties));
    return succeeded(result);
  }

  private contextFor(resource: DeclaredResource): ProviderContext {
    const { events, host } = this.options;
    const sources = this.sources;
    return {
      host,
      resource,
      backupDir: this.options.backupDir ?? "/var/lib/sous/backup",
      notYetChanged: this.notYetChanged,
      prepared: this.prepared.get(resource),
      log: (message) => events({ type: "log", resource: resource.id, level: "info", message: mask(resource, message) }),
      async cookbookFile(kind, name) {
        if (!resource.cookbook) throw new SousError("no-cookbook", `${resource.id} uses ${kind}/${name}, but it was not declared by a cookbook recipe`);
        const base = join(resource.cookbook.dir, kind);
        const path = normalize(join(base, name));
        if (!path.startsWith(base + sep)) throw new SousError("bad-source", `${resource.id}: source ${JSON.stringify(name)} points outside the cookbook's ${kind}/ folder`);
        try {
          let content = sources.get(path);
          if (!content) sources.set(path, (content = readFile(path)));
          return { path, content: await content };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") {
            throw new SousError("missing-source", `${resource.id}: cookbook ${resource.cookbook.name} has no ${kind}/${name} (looked for ${path})`);
          }
          throw error;
        }
      },
    };
  }
}

/** Delayed notifications by target and action; `sources` are every resource that asked, in order (the action runs once). */
type DelayedQueue = Map<string, { target: DeclaredResource; action: string; source: DeclaredResource; sources: DeclaredResource[] }>;

/** Whether a property's values must be hidden for this resource. */
function isSensitive(resource: DeclaredResource, property: string): boolean {
  if (resource.sensitive) return true;
  const spec = (resource.resourceType.properties as Record<string, PropertySpec>)[property];
  return spec?.sensitive === true;
}

function redact(resource: DeclaredResource, plan: Plan): { changes: Change[]; diff?: string } {
  // A custom resource's sensitive properties reach its inner resources as plain values: hide them there too.
  const hideInherited = (value: unknown) => (typeof value === "string" && resource.parents.length ? mask(resource, value) : value);
  const changes = plan.changes.map((change) =>
    isSensitive(resource, change.property)
      ? { property: change.property, from: change.from === undefined ? undefined : REDACTED, to: REDACTED }
      : { property: change.property, from: hideInherited(change.from), to: hideInherited(change.to) },
  );
  const diff = plan.diff ? (isSensitive(resource, plan.diff.property) ? "(diff hidden: sensitive)" : (hideInherited(plan.diff.text) as string)) : undefined;
  return diff === undefined ? { changes } : { changes, diff };
}

/** Replaces every sensitive property value (strings, also inside arrays and objects) that appears in a message with ***. */
function mask(resource: DeclaredResource, text: string): string {
  const secrets: string[] = [];
  const collect = (value: unknown, depth: number): void => {
    if (typeof value === "string") {
      if (value.length >= 3) secrets.push(value);
    } else if (value !== null && typeof value === "object" && !Buffer.isBuffer(value) && depth < 8) {
      for (const item of Object.values(value)) collect(item, depth + 1);
    }
  };
  for (const owner of [...resource.parents, resource]) {
    for (const [key, value] of Object.entries(owner.properties)) {
      if (isSensitive(owner, key) && key !== owner.resourceType.identity) collect(value, 0);
    }
  }
  // Longest first, so that a secret containing another is masked whole.
  let out = text;
  for (const secret of secrets.sort((a, b) => b.length - a.length)) out = out.split(secret).join("***");
  return out;
}

function describeGuard(guard: Guard): string {
  if (typeof guard === "function") return "(function)";
  return typeof guard === "string" ? `\`${guard}\`` : `\`${guard.join(" ")}\``;
}

function resourceInfo(resource: DeclaredResource): ResourceInfo {
  return {
    id: resource.id,
    type: resource.type,
    name: resource.name,
    ...(resource.parents.length ? { parents: resource.parents.map((p) => p.id) } : {}),
    ...(resource.recipe ? { recipe: resource.recipe } : {}),
    ...(resource.location ? { location: resource.location } : {}),
  };
}

const OUTPUT_LIMIT = 8000;

function clip(text: string): string {
  return text.length > OUTPUT_LIMIT ? `...(${text.length - OUTPUT_LIMIT} earlier characters cut)\n${text.slice(-OUTPUT_LIMIT)}` : text;
}

function failureInfo(resource: DeclaredResource, error: unknown): FailureInfo {
  if (resource.sensitive) {
    // Secrets can appear in a sensitive resource's errors in any form (a line of a command's
    // output, a template's source shown around an error): hide the details, keep how it ended.
    const hidden = "details hidden because the resource is sensitive; set sensitive: false to see them";
    if (error instanceof CommandFailedError) {
      const r = error.result;
      const status = r.timedOut ? "timed out" : r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
      return { code: error.code, message: `command ${status} (${hidden})`, exitCode: r.exitCode };
    }
    const code = error instanceof SousError ? error.code : (error as NodeJS.ErrnoException)?.code;
    return { code: typeof code === "string" ? code : "error", message: `failed (${hidden})` };
  }
  if (error instanceof CommandFailedError) {
    const r = error.result;
    return {
      code: error.code,
      message: mask(resource, error.message),
      command: mask(resource, r.display),
      exitCode: r.exitCode,
      stdout: mask(resource, clip(r.stdout)),
      stderr: mask(resource, clip(r.stderr)),
    };
  }
  if (error instanceof SousError) return { code: error.code, message: mask(resource, error.message) };
  const code = (error as NodeJS.ErrnoException)?.code;
  return { code: typeof code === "string" ? code : "error", message: mask(resource, errorMessage(error)) };
}
