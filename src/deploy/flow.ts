/**
 * The deploy and rollback flows. Each phase is a barrier: every host finishes it (none is cut
 * off in flight) before any host starts the next, and a phase that failed anywhere stops the
 * run before the next one. Up to the switch nothing a host serves has changed, so a failure
 * there leaves every host on its old release; the switch goes batch by batch, each batch
 * restarted and health-checked before the next, and a failed batch is switched back.
 * The lock is taken on the primary host after the checks and freed on every way out.
 */
import { posix } from "node:path";
import { errorMessage } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { HookRelease } from "./definition.js";
import type { DeployEvent, DeployResult, DeploySink, HostSummary } from "./events.js";
import { checkHealth } from "./health.js";
import { type HookTarget, releaseEnvironment, runHooks } from "./hooks.js";
import { addressOf, batchesOf, type DeployHost, lockHost, migrationHost } from "./hosts.js";
import { type HostReleases, type Layout, layoutOf, type LogEntry, MARKER, markerOfRelease, nextReleaseId, parseState, previousGood, type ReleaseMarker, releasePath, releasesToRemove, switchCurrent } from "./layout.js";
import type { HookSlot, LoadedApp } from "./load.js";
import { type HeldLock, type LockedError, lockedError, lockRequest, relabelLock, releaseLock, whoAmI } from "./lock.js";
import { CHECK, FINISH, HAS_COMMIT, LINK, RELEASE, RemoteStepError, runScript, UPDATE } from "./remote.js";

/** What every run needs: the app, its hosts and their connections. */
export interface RunOptions {
  app: LoadedApp;
  hosts: readonly DeployHost[];
  /** Open connections by host name; a host missing here could not be reached. */
  connections: ReadonlyMap<string, Host>;
  /** Why a host could not be reached, by host name. */
  unreachable?: ReadonlyMap<string, string>;
  events?: DeploySink;
  /** Aborting (Ctrl-C, SIGTERM) stops the run at the next step; what is in flight finishes, the lock is freed. */
  signal?: AbortSignal;
  /** Told when the lock is taken and freed (for a last-resort release on a second Ctrl-C). */
  onLock?: (lock: HeldLock | undefined) => void;
  now?: () => Date;
  /** Hosts switched at once, overriding the app's batch setting. */
  batch?: number | string;
}

/** A deploy's options. */
export interface DeployOptions extends RunOptions {
  /** Branch, tag or commit, overriding the app's. */
  revision?: string;
  /** On a failed health check, switch back the batches that passed too. */
  rollbackAllOnFailure?: boolean;
}

/** A rollback's options. */
export interface RollbackOptions extends RunOptions {
  /** The release to go back to (default: each host's newest good release before its current one). */
  to?: string;
  /** Allow a release that is not marked good. */
  force?: boolean;
}

interface Entry {
  host: DeployHost;
  conn?: Host;
  error?: string;
  state?: HostReleases;
  /** Where current pointed before the run. */
  before?: string;
  /** Where this run moves current to. */
  target?: string;
  revision?: string;
  created?: boolean;
  switched?: boolean;
  switchedBack?: boolean;
  /** Its revisions.log line was written with its switch. */
  logged?: boolean;
  started: number;
}

type Step = (entry: Entry) => Promise<string | void>;

/** One run's bookkeeping: the event stream, phases, and the barrier runner. */
class Run {
  readonly entries: Entry[];
  readonly layout: Layout;
  readonly phases: DeployResult["phases"] = [];
  readonly startedAt: Date;
  readonly by = whoAmI();
  error?: string;
  lock?: HeldLock;

  constructor(
    readonly options: RunOptions,
    readonly action: "deploy" | "rollback",
  ) {
    this.startedAt = options.now?.() ?? new Date();
    this.layout = layoutOf(options.app.deployTo);
    this.entries = options.hosts.map((host) => {
      const conn = options.connections.get(host.name);
      return { host, ...(conn ? { conn } : {}), started: performance.now() };
    });
  }

  emit(event: DeployEvent): void {
    this.options.events?.(event);
  }

  get aborted(): boolean {
    return this.options.signal?.aborted === true;
  }

  /**
   * A barrier: `body` works on every entry at once and reports each host's failure through
   * `fail`; false when it failed on any host.
   */
  async group(name: string, entries: readonly Entry[], body: (fail: (entry: Entry, error: unknown) => void, details: Map<Entry, string>) => Promise<void>, batch?: number, always = false): Promise<boolean> {
    if (this.aborted && !always) {
      this.error ??= `interrupted before ${name}`;
      return false;
    }
    const started = performance.now();
    this.emit({ type: "phase:start", phase: name, hosts: entries.map((e) => e.host.name), ...(batch !== undefined ? { batch } : {}) });
    const failures = new Map<Entry, string>();
    const details = new Map<Entry, string>();
    const fail = (entry: Entry, error: unknown) => {
      const message = errorMessage(error);
      failures.set(entry, message);
      entry.error ??= message;
    };
    await body(fail, details);
    const durationMs = performance.now() - started;
    for (const entry of entries) {
      const error = failures.get(entry);
      const detail = details.get(entry);
      this.emit({ type: "host:finish", phase: name, host: entry.host.name, ok: error === undefined, ...(detail ? { detail } : {}), ...(error ? { error } : {}), durationMs });
    }
    const failed = entries.filter((e) => failures.has(e)).map((e) => e.host.name);
    this.phases.push({ phase: name, ok: failed.length === 0, durationMs, ...(batch !== undefined ? { batch } : {}) });
    this.emit({ type: "phase:finish", phase: name, ok: failed.length === 0, failed, durationMs, ...(batch !== undefined ? { batch } : {}) });
    if (failed.length) this.error ??= `${name} failed on ${failed.join(", ")}`;
    return failed.length === 0;
  }

  /** Runs `step` on each entry, all at once. */
  async each(entries: readonly Entry[], step: Step, fail: (entry: Entry, error: unknown) => void, details: Map<Entry, string>): Promise<void> {
    await Promise.all(
      entries.map(async (entry) => {
        try {
          const detail = await step(entry);
          if (detail) details.set(entry, detail);
        } catch (error) {
          fail(entry, error);
        }
      }),
    );
  }

  /** A phase of one step per host. */
  phase(name: string, entries: readonly Entry[], step: Step, batch?: number, always = false): Promise<boolean> {
    return this.group(name, entries, (fail, details) => this.each(entries, step, fail, details), batch, always);
  }

  /** The hooks of a slot on `entries`, all hosts together (once needs them all); failures go to `fail`. */
  async hooks(slot: HookSlot, entries: readonly Entry[], release: (entry: Entry) => HookRelease, fail: (entry: Entry, error: unknown) => void): Promise<void> {
    const hooks = this.options.app.hooks[slot] ?? [];
    if (hooks.length === 0 || entries.length === 0) return;
    const targets: HookTarget[] = entries.map((e) => ({ deployHost: e.host, host: e.conn!, release: release(e) }));
    const errors = await runHooks(hooks, targets, { app: this.options.app.name, ...(this.options.app.stage ? { stage: this.options.app.stage } : {}), env: this.options.app.environment }, (host, text) =>
      this.emit({ type: "host:activity", phase: slot, host, text }),
    );
    errors.forEach((error, index) => error && fail(entries[index]!, error));
  }

  /** Whether a slot has hooks. */
  has(slot: HookSlot): boolean {
    return (this.options.app.hooks[slot]?.length ?? 0) > 0;
  }

  /**
   * A phase made of its before hooks, its own hooks (build, migrate, restart), its work and its
   * after hooks, one after the other, each on every host before the next; skipped when empty.
   */
  async phaseWithHooks(name: "update" | "release" | "link" | "build" | "migrate" | "restart" | "clean", entries: readonly Entry[], release: (entry: Entry) => HookRelease, work?: Step, batch?: number, always = false): Promise<boolean> {
    const slots: Array<HookSlot | "work"> = [`before:${name}`, ...(name === "build" || name === "migrate" || name === "restart" ? [name] : []), "work", `after:${name}`];
    const used = slots.filter((slot) => (slot === "work" ? work !== undefined : this.has(slot)));
    if (used.length === 0 || entries.length === 0) return true;
    return this.group(
      name,
      entries,
      async (fail, details) => {
        let failed = false;
        const failAndNote = (entry: Entry, error: unknown) => {
          failed = true;
          fail(entry, error);
        };
        for (const slot of used) {
          if (slot === "work") await this.each(entries, work!, failAndNote, details);
          else await this.hooks(slot, entries, release, failAndNote);
          // Later steps of a failed phase would only do work that is thrown away.
          if (failed) return;
        }
      },
      batch,
      always,
    );
  }

  lockEntry(): Entry {
    const host = lockHost(this.options.hosts);
    return this.entries.find((e) => e.host === host)!;
  }

  /**
   * The check phase on every host, the lock taken on the lock host in the same round trip (its
   * check script takes it last, once everything else there passed); then the lock's own phase
   * in the report: taken, or refused naming the holder. A lock taken while another host failed
   * its check is freed by the run's way out, as always.
   */
  async checkAndLock(git: "none" | "new", release?: string): Promise<boolean> {
    const lockEntry = this.lockEntry();
    const request = lockRequest(this.layout, { kind: this.action, app: this.options.app.name, ...(release ? { release } : {}) });
    let refused: LockedError | undefined;
    const checked = await this.phase("check", this.entries, async (entry) => {
      if (entry !== lockEntry) return checkHost(this, entry, git);
      try {
        const detail = await checkHost(this, entry, git, request.args);
        this.lock = { host: entry.conn!, layout: this.layout, holder: request.holder, token: request.token };
        this.options.onLock?.(this.lock);
        return detail;
      } catch (error) {
        if (!(error instanceof RemoteStepError) || error.result.exitCode !== 75) throw error;
        refused = lockedError(error.result.stdout, entry.conn!.name);
        // The lock host's checks passed: only its lock was refused, reported by the lock phase.
        entry.state = parseState(error.result.stdout, this.layout);
        entry.before = entry.state.current;
        return entry.before ? `current ${entry.before}` : "first deploy";
      }
    });
    if (!checked && !refused) return false;
    const locked = await this.group("lock", [lockEntry], async (fail, details) => {
      if (refused) fail(lockEntry, refused);
      else if (this.lock) details.set(lockEntry, `locked by ${this.lock.holder.by}`);
    });
    return checked && locked;
  }

  async freeLock(): Promise<void> {
    if (!this.lock) return;
    const lock = this.lock;
    this.lock = undefined;
    try {
      const freed = await releaseLock(lock);
      this.emit({ type: "note", text: freed ? `lock on ${lock.host.name} released` : `the lock on ${lock.host.name} was taken over by someone else; left alone` });
    } catch (error) {
      this.emit({ type: "note", text: `could not release the lock on ${lock.host.name}: ${errorMessage(error)}` });
      this.error ??= `could not release the lock: ${errorMessage(error)}`;
    }
    this.options.onLock?.(undefined);
  }

  hookRelease(entry: Entry, id: string, revision: string, previous?: string): HookRelease {
    return {
      id,
      path: releasePath(this.layout, id),
      revision,
      ...(previous ? { previous } : {}),
      deployTo: this.layout.deployTo,
      sharedPath: this.layout.shared,
      currentPath: this.layout.current,
    };
  }
}

/**
 * The check phase's work on one host, in one round trip: git, paths writable, free disk, the
 * repository reachable (`git`: always; `new`: only where there is no mirror yet, since on a
 * redeploy the update phase's fetch says so before anything changes), linked files; on the
 * lock host the lock (`lock`: the lock script's arguments; its refusal exits 75); and its releases.
 */
async function checkHost(run: Run, entry: Entry, git: "none" | "new" | "always", lock: readonly [string, string, string] = ["", "", ""]): Promise<string> {
  if (!entry.conn) throw new Error(`cannot connect: ${run.options.unreachable?.get(entry.host.name) ?? "no connection"}`);
  const { app } = run.options;
  // No timeout of its own (it would cost two processes per host): its one command that can hang, git ls-remote, has one.
  const output = await runScript(entry.conn, "", CHECK, [run.layout.deployTo, app.repository, git, String(Math.ceil(app.minFreeMiB * 1024)), ...lock, ...app.linkedFiles]);
  entry.state = parseState(output, run.layout);
  entry.before = entry.state.current;
  return entry.before ? `current ${entry.before}` : "first deploy";
}

/** Brings the bare mirror up to date (cloned or fetched) and resolves the revision there. */
async function updateMirror(run: Run, entry: Entry, revision: string): Promise<string> {
  const output = await runScript(entry.conn!, "", UPDATE, [run.layout.repo, run.options.app.repository, revision]);
  const sha = output.trim().split("\n").at(-1) ?? "";
  if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new Error(`update: ${JSON.stringify(revision)} did not resolve to a commit (got ${JSON.stringify(sha)})`);
  entry.revision = sha;
  return sha.slice(0, 12);
}

/** The marker of this run's release. */
function markerOf(run: Run, id: string, revision: string, status: ReleaseMarker["status"], createdAt: string): ReleaseMarker {
  return { id, status, revision, by: run.by, createdAt, ...(status === "pending" ? {} : { finishedAt: new Date().toISOString() }) };
}

/** The shared files and folders to link into a release, as the link scripts take them. */
function linkItems(app: LoadedApp): string[] {
  return [...app.linkedDirs.map((p) => `d:${p}`), ...app.linkedFiles.map((p) => `f:${p}`)];
}

/** Makes releases/<id> from the mirror: git archive of the commit, REVISION, a pending marker; and `links` linked in (the link phase's work, when no hook runs between the two). */
async function createRelease(run: Run, entry: Entry, id: string, revision: string, createdAt: string, links: readonly string[]): Promise<string> {
  const dir = releasePath(run.layout, id);
  // Before the script: if it fails halfway, the cleanup removes what it made.
  entry.created = true;
  await runScript(entry.conn!, "", RELEASE, [run.layout.repo, revision, dir, JSON.stringify(markerOf(run, id, revision, "pending", createdAt)), run.layout.shared, ...links]);
  return links.length ? `${dir}, ${links.length} linked` : dir;
}

/** Links shared/ files and folders into the release. */
async function linkShared(run: Run, entry: Entry, id: string): Promise<string | void> {
  const items = linkItems(run.options.app);
  if (items.length === 0) return undefined;
  await runScript(entry.conn!, "", LINK, [releasePath(run.layout, id), run.layout.shared, ...items]);
  return `${items.length} linked`;
}

/** Appends to revisions.log, and optionally rewrites a release's marker and removes releases, in one round trip; after a deploy's update, starts the mirror's housekeeping. */
async function finishOn(run: Run, entry: Entry, log: LogEntry, marker?: ReleaseMarker, remove: readonly string[] = []): Promise<void> {
  const markerFile = marker ? posix.join(releasePath(run.layout, marker.id), MARKER) : "";
  const mirror = log.action === "deploy" && entry.revision ? run.layout.repo : "";
  await runScript(entry.conn!, "", FINISH, [markerFile, marker ? JSON.stringify(marker) : "", run.layout.log, JSON.stringify(log), mirror, ...remove.map((id) => releasePath(run.layout, id))]);
}

/**
 * Switches `entries` batch by batch to their `target` release: switch, restart hooks, health
 * check, each a barrier; a batch that fails anywhere is switched back (restarted again) and no
 * later batch switches. Returns whether every batch passed.
 */
async function switchInBatches(run: Run, batches: Entry[][], release: (entry: Entry) => HookRelease, onFailure: { rollbackAll: boolean; logAtSwitch?: (entry: Entry) => LogEntry }): Promise<boolean> {
  const { app } = run.options;
  const done: Entry[] = [];
  // Nothing can fail after a host's switch without restart hooks or a health check: its log line goes with the switch.
  const logAtSwitch = !run.has("before:restart") && !run.has("restart") && !run.has("after:restart") && !app.healthCheck ? onFailure.logAtSwitch : undefined;
  for (const [index, batch] of batches.entries()) {
    const number = batches.length > 1 ? index + 1 : undefined;
    let ok = await run.phase(
      "switch",
      batch,
      async (entry) => {
        await switchCurrent(entry.conn!, run.layout, entry.target!, logAtSwitch?.(entry), run.action === "rollback" ? rollbackMarkers(entry, "switch", run.startedAt.toISOString()) : []);
        entry.switched = true;
        if (logAtSwitch) entry.logged = true;
        return `current -> ${entry.target}`;
      },
      number,
    );
    if (ok) ok = await run.phaseWithHooks("restart", batch, release, undefined, number);
    if (ok && app.healthCheck) {
      const check = app.healthCheck;
      ok = await run.phase(
        "health",
        batch,
        async (entry) => {
          const result = await checkHealth(check, entry.conn!, addressOf(entry.host), run.layout.current, releaseEnvironment(app.name, app.environment, release(entry)), run.options.signal);
          if (!result.ok) throw new Error(`unhealthy after ${result.attempts} attempt${result.attempts === 1 ? "" : "s"}: ${result.detail}`);
          return `healthy (${result.detail})`;
        },
        number,
      );
    }
    if (ok) {
      done.push(...batch);
      continue;
    }
    const back = onFailure.rollbackAll ? [...done, ...batch] : batch;
    await switchBack(run, back, number);
    return false;
  }
  return true;
}

/**
 * The markers a rollback's switch rewrites: the release it leaves is marked rolled back (no later
 * rollback picks it by itself) and the one it goes to loses that mark (chosen again, with --to);
 * switching back puts both as they were. `at`: the rollback's start, the same on every host.
 */
function rollbackMarkers(entry: Entry, way: "switch" | "back", at: string): ReleaseMarker[] {
  const find = (id: string | undefined) => (id ? entry.state?.releases.find((r) => r.id === id) : undefined);
  const left = find(entry.before);
  const reached = find(entry.target);
  const out: ReleaseMarker[] = [];
  for (const [release, rolledBack] of [[left, true], [reached, false]] as const) {
    const marker = release && markerOfRelease(release);
    if (!marker || (release.id === entry.target && release.id === entry.before)) continue;
    if (way === "back") {
      if (Boolean(marker.rolledBackAt) !== rolledBack) out.push(marker);
      continue;
    }
    if (rolledBack && !marker.rolledBackAt) out.push({ ...marker, rolledBackAt: at });
    if (!rolledBack && marker.rolledBackAt) {
      const { rolledBackAt: _, ...cleared } = marker;
      out.push(cleared);
    }
  }
  return out;
}

/** Puts entries back on the release they were on before the run, restarting them there (also when the run was interrupted). */
async function switchBack(run: Run, entries: Entry[], batch?: number): Promise<void> {
  const switched = entries.filter((e) => e.switched && e.conn);
  if (switched.length === 0) return;
  await run.phase(
    "switch-back",
    switched,
    async (entry) => {
      await switchCurrent(entry.conn!, run.layout, entry.before, undefined, run.action === "rollback" ? rollbackMarkers(entry, "back", run.startedAt.toISOString()) : []);
      entry.switchedBack = true;
      // A line written with its switch said it moved; the one written at the end says it came back.
      entry.logged = false;
      return entry.before ? `current -> ${entry.before}` : "no current (there was none before)";
    },
    batch,
    true,
  );
  const back = switched.filter((e) => e.switchedBack && e.before);
  const release = (entry: Entry) => run.hookRelease(entry, entry.before!, entry.state?.releases.find((r) => r.id === entry.before)?.revision ?? "");
  await run.phaseWithHooks("restart", back, release, undefined, batch, true);
}

function summaries(run: Run, describe: (entry: Entry) => Pick<HostSummary, "outcome" | "release" | "previous">): HostSummary[] {
  return run.entries.map((entry) => ({
    host: entry.host.name,
    roles: entry.host.roles,
    ...describe(entry),
    ...(entry.error ? { error: entry.error } : {}),
    durationMs: performance.now() - entry.started,
  }));
}

function result(run: Run, ok: boolean, hosts: HostSummary[], extra: Partial<DeployResult>, batches: Entry[][]): DeployResult {
  const out: DeployResult = {
    action: run.action,
    app: run.options.app.name,
    ...(run.options.app.stage ? { stage: run.options.app.stage } : {}),
    ok,
    by: run.by,
    startedAt: run.startedAt.toISOString(),
    durationMs: hosts.length ? Math.max(...hosts.map((h) => h.durationMs)) : 0,
    batches: batches.map((b) => b.map((e) => e.host.name)),
    phases: run.phases,
    hosts,
    ...extra,
    ...(!ok && run.error ? { error: run.error } : {}),
  };
  run.emit({ type: "run:finish", result: out });
  return out;
}

/** Deploys the app's revision to every host. Never throws for a host's failure: the result says what happened where. */
export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const run = new Run(options, "deploy");
  const { app } = options;
  const revisionRef = options.revision ?? app.revision;
  const batches = batchesOf([...run.entries], options.batch ?? app.batch);
  run.emit({ type: "run:start", action: "deploy", app: app.name, ...(app.stage ? { stage: app.stage } : {}), hosts: run.entries.map((e) => e.host.name), batches: batches.map((b) => b.map((e) => e.host.name)) });
  let id: string | undefined;
  let revision: string | undefined;
  const hookRelease = (entry: Entry) => run.hookRelease(entry, id!, revision ?? entry.revision ?? "", entry.before);
  const createdAt = new Date().toISOString();

  const steps = async (): Promise<boolean> => {
    // The id the lock names; a host with a release as new (two deploys in one second, a clock ahead) moves it on below.
    const now = options.now?.() ?? new Date();
    const provisional = nextReleaseId(now, []);
    if (!(await run.checkAndLock("new", provisional))) return false;
    id = nextReleaseId(now, run.entries.flatMap((e) => e.state!.releases.map((r) => r.id)));
    if (id !== provisional && run.lock) await relabelLock(run.lock, id).catch((error: unknown) => run.emit({ type: "note", text: `the lock still names release ${provisional}: ${errorMessage(error)}` }));
    if (!(await run.phaseWithHooks("update", run.entries, hookRelease, (entry) => updateMirror(run, entry, revisionRef)))) return false;
    // One commit for every host: the lock host's; a host that resolved another (a push landed between fetches) must have it too.
    revision = run.lockEntry().revision!;
    const mismatched = run.entries.filter((e) => e.revision !== revision);
    if (mismatched.length && !(await run.phase("update", mismatched, async (entry) => void (await runScript(entry.conn!, "", HAS_COMMIT, [run.layout.repo, revision!]))))) return false;
    for (const entry of run.entries) {
      entry.revision = revision;
      entry.target = id;
    }
    // Linking is part of making the release (one round trip) unless a hook runs between the two.
    const linkApart = run.has("after:release") || run.has("before:link");
    if (!(await run.phaseWithHooks("release", run.entries, hookRelease, (entry) => createRelease(run, entry, id!, revision!, createdAt, linkApart ? [] : linkItems(app))))) return false;
    if (!(await run.phaseWithHooks("link", run.entries, hookRelease, linkApart ? (entry) => linkShared(run, entry, id!) : undefined))) return false;
    if (!(await run.phaseWithHooks("build", run.entries, hookRelease))) return false;
    const migrator = run.entries.find((e) => e.host === migrationHost(options.hosts))!;
    if (!(await run.phaseWithHooks("migrate", [migrator], hookRelease))) return false;
    if (run.has("before:switch") && !(await run.group("switch", run.entries, (fail) => run.hooks("before:switch", run.entries, hookRelease, fail)))) return false;
    if (run.aborted) {
      run.error ??= "interrupted before switch";
      return false;
    }
    if (!(await switchInBatches(run, batches, hookRelease, { rollbackAll: options.rollbackAllOnFailure === true }))) return false;
    if (run.has("after:switch") && !(await run.group("switch", run.entries, (fail) => run.hooks("after:switch", run.entries, hookRelease, fail), undefined, true))) return false;
    // From here the deploy is done: what remains is bookkeeping, which an interrupt does not skip.
    // One round trip per host: the release marked good, the log line, the old releases removed.
    const cleaned = await run.phaseWithHooks(
      "clean",
      run.entries,
      hookRelease,
      async (entry) => {
        const state: HostReleases = { current: id!, releases: [...entry.state!.releases.filter((r) => r.id !== id), { id: id!, status: "good", revision: revision! }] };
        const gone = releasesToRemove(state, app.keepReleases);
        await finishOn(run, entry, { action: "deploy", release: id!, revision: revision!, by: run.by, at: new Date().toISOString(), outcome: "good" }, markerOf(run, id!, revision!, "good", createdAt), gone);
        return gone.length ? `marked good, removed ${gone.join(", ")}` : "marked good";
      },
      undefined,
      true,
    );
    if (!cleaned) return false;
    return true;
  };

  let ok = false;
  try {
    ok = await steps();
    if (!ok && id !== undefined && run.lock) await cleanUpFailed(run, id, revision, createdAt);
  } finally {
    await run.freeLock();
  }
  return deployResult(run, ok, id, revision, batches);
}

/**
 * After a failed deploy: the new release removed wherever current does not use it, and every
 * host's log told. A host that stays on it (its batch passed its restart and health check before
 * a later batch failed) has it marked good: left pending, it would be no rollback target and the
 * next deploy would remove it as abandoned once it is no longer current.
 */
async function cleanUpFailed(run: Run, id: string, revision: string | undefined, createdAt: string): Promise<void> {
  const reached = run.entries.filter((e) => e.conn && e.state);
  const interrupted = run.aborted;
  await run.phase(
    "cleanup",
    reached,
    async (entry) => {
      const kept = entry.switched === true && !entry.switchedBack;
      const outcome = kept ? "partial" : entry.switchedBack ? "switched-back" : interrupted ? "interrupted" : "failed";
      const marker = kept && revision ? markerOf(run, id, revision, "good", createdAt) : undefined;
      await finishOn(run, entry, { action: "deploy", release: id, ...(revision ? { revision } : {}), by: run.by, at: new Date().toISOString(), outcome, ...(run.error ? { message: run.error } : {}) }, marker, entry.created && !kept ? [id] : []);
      return kept ? `stays on ${id}, marked good` : entry.created ? `removed release ${id}` : undefined;
    },
    undefined,
    true,
  );
}

function deployResult(run: Run, ok: boolean, id: string | undefined, revision: string | undefined, batches: Entry[][]): DeployResult {
  const hosts = summaries(run, (entry) => {
    const onNew = entry.switched === true && !entry.switchedBack;
    const release = onNew ? id : entry.before;
    const outcome: HostSummary["outcome"] = ok || onNew ? "deployed" : entry.switchedBack ? "switched-back" : entry.error ? "failed" : "not-switched";
    return { outcome, ...(release ? { release } : {}), ...(entry.before ? { previous: entry.before } : {}) };
  });
  return result(run, ok, hosts, { ...(id ? { release: id } : {}), ...(revision ? { revision } : {}) }, batches);
}

/** The release a rollback takes a host to: `to` (refused unless good, or `force`), or its newest good release before current. Throws why not. */
export function rollbackTarget(state: HostReleases, to: string | undefined, force: boolean): string {
  if (to) {
    const release = state.releases.find((r) => r.id === to);
    if (!release) throw new Error(`no release ${to} here (releases: ${state.releases.map((r) => r.id).join(", ") || "none"})`);
    if (release.status !== "good" && !force) throw new Error(`release ${to} is marked ${release.status}, not good: refusing to roll back to it (pass --force to do it anyway)`);
    return release.id;
  }
  const target = previousGood(state, state.current);
  if (!target) throw new Error(`no good release before ${state.current ?? "(no current release)"} to roll back to`);
  return target.id;
}

/**
 * Rolls every host back: to `to`, or to its newest good release before its current one, by the
 * same atomic switch in the same batches (restart hooks and health check included). A release
 * not marked good is refused unless `force`; a failed batch goes back to where it was.
 */
export async function rollback(options: RollbackOptions): Promise<DeployResult> {
  const run = new Run(options, "rollback");
  const { app } = options;
  run.emit({ type: "run:start", action: "rollback", app: app.name, ...(app.stage ? { stage: app.stage } : {}), ...(options.to ? { release: options.to } : {}), hosts: run.entries.map((e) => e.host.name), batches: [] });
  let moving: Entry[] = [];
  let batches: Entry[][] = [];
  const hookRelease = (entry: Entry) => run.hookRelease(entry, entry.target!, entry.state?.releases.find((r) => r.id === entry.target)?.revision ?? "", entry.before);
  const steps = async (): Promise<boolean> => {
    if (!(await run.checkAndLock("none", options.to))) return false;
    const planned = await run.phase("plan", run.entries, async (entry) => {
      const state = entry.state!;
      entry.target = rollbackTarget(state, options.to, options.force === true);
      return entry.target === state.current ? `already on ${entry.target}` : `${state.current ?? "none"} -> ${entry.target}`;
    });
    if (!planned) return false;
    moving = run.entries.filter((e) => e.target !== e.state!.current);
    batches = batchesOf(moving, options.batch ?? app.batch);
    if (!(await switchInBatches(run, batches, hookRelease, { rollbackAll: false, logAtSwitch: (entry) => rollbackLog(entry, "rolled-back") }))) return false;
    return true;
  };
  const rollbackLog = (entry: Entry, outcome: LogEntry["outcome"]): LogEntry => {
    const revision = hookRelease(entry).revision;
    return { action: "rollback", release: entry.target!, ...(revision ? { revision } : {}), ...(entry.before ? { from: entry.before } : {}), by: run.by, at: new Date().toISOString(), outcome, ...(run.error ? { message: run.error } : {}) };
  };
  let ok = false;
  try {
    ok = await steps();
    const logged = run.entries.filter((e) => e.switched && e.conn && !e.logged);
    if (logged.length) {
      await run.phase(
        "finish",
        logged,
        (entry) => finishOn(run, entry, rollbackLog(entry, entry.switchedBack ? "switched-back" : "rolled-back")),
        undefined,
        true,
      );
    }
  } finally {
    await run.freeLock();
  }
  const hosts = summaries(run, (entry) => {
    const moved = entry.switched === true && !entry.switchedBack;
    const release = moved ? entry.target : entry.before;
    const outcome: HostSummary["outcome"] = moved ? "rolled-back" : entry.switchedBack ? "switched-back" : entry.error ? "failed" : entry.target && entry.target === entry.before ? "unchanged" : "not-switched";
    return { outcome, ...(release ? { release } : {}), ...(entry.before ? { previous: entry.before } : {}) };
  });
  const targets = new Set(run.entries.map((e) => e.target).filter(Boolean));
  return result(run, ok, hosts, targets.size === 1 ? { release: [...targets][0]! } : {}, batches);
}

/** `sous deploy check`: the check phase alone (nothing is locked or changed beyond making deployTo's folders). */
export async function checkOnly(options: RunOptions): Promise<DeployResult> {
  const run = new Run(options, "deploy");
  run.emit({ type: "run:start", action: "deploy", app: options.app.name, hosts: run.entries.map((e) => e.host.name), batches: [] });
  const ok = await run.phase("check", run.entries, (entry) => checkHost(run, entry, "always"));
  const hosts = summaries(run, (entry) => ({ outcome: entry.error ? "failed" : "unchanged", ...(entry.before ? { release: entry.before } : {}) }));
  return result(run, ok, hosts, {}, []);
}
