/**
 * Loads `apps/<name>.ts`: compiles it with esbuild (cached in .sous/cache), imports
 * it, merges the chosen stage over the base settings and checks every setting, reporting all
 * problems at once with their property paths and the file:line of `app(...)`.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type Problem, SousError, ValidationError } from "../core/errors.js";
import { didYouMean } from "../core/suggest.js";
import { importTypeScriptFile } from "../cookbook/compile-file.js";
import { findRepositoryRoot } from "../cookbook/root.js";
import { type AppDefinition, appLocation, type AppRole, type AppSettings, type HealthCheck, type HookFunction, type Hooks, type HookSpec, type HostSpec, isApp, type Phase, PHASES } from "./definition.js";

/** A hook ready to run: named, with its role filter and once-paths. */
export interface LoadedHook {
  name: string;
  run: HookFunction;
  roles?: readonly AppRole[];
  once?: readonly string[];
}

/** Where hooks attach: before or after a phase, or a phase's own work (build, migrate, restart). */
export type HookSlot = `before:${Phase}` | `after:${Phase}` | "build" | "migrate" | "restart";

/** An application with its stage applied and every default filled in. */
export interface LoadedApp {
  name: string;
  stage?: string;
  file: string;
  repository: string;
  revision: string;
  hosts: readonly HostSpec[];
  deployTo: string;
  linkedFiles: readonly string[];
  linkedDirs: readonly string[];
  keepReleases: number;
  environment: Record<string, string>;
  healthCheck?: Required<Pick<HealthCheck, "timeoutMs" | "retries" | "intervalMs">> & HealthCheck;
  batch?: number | string;
  minFreeMiB: number;
  hooks: Partial<Record<HookSlot, LoadedHook[]>>;
}

const ROLES: readonly AppRole[] = ["app", "web", "db", "worker"];

/** The folder holding apps/: `repo`, or the nearest repository, or the current folder when it has apps/. */
export function appsRoot(repo: string | undefined, cwd = process.cwd()): string {
  if (repo) return resolve(repo);
  if (existsSync(join(cwd, "apps"))) return resolve(cwd);
  const root = findRepositoryRoot(cwd);
  if (root && existsSync(join(root, "apps"))) return root;
  throw new SousError("usage", `no apps/ folder here: run this in a repository with apps/<name>.ts, or pass --repo DIR`);
}

/** Refuses a name that cannot be an application's (its file is apps/<name>.ts). */
export function checkAppName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new SousError("usage", `not an application name: ${JSON.stringify(name)} (letters, digits, _ . -)`);
}

/** The file of an application: apps/<name>.ts (or .js). */
export function appFile(root: string, name: string): string {
  checkAppName(name);
  for (const extension of [".ts", ".mts", ".js", ".mjs"]) {
    const file = join(root, "apps", `${name}${extension}`);
    if (existsSync(file)) return file;
  }
  const known = knownApps(root);
  throw new SousError("no-app", `no application ${name}: ${join(root, "apps", `${name}.ts`)} does not exist${didYouMean(name, known)}${known.length ? ` (known: ${known.join(", ")})` : ""}; sous deploy init ${name} writes one`);
}

/** The applications of a repository: the names of apps/*.ts (and .mts, .js, .mjs), sorted. */
export function knownApps(root: string): string[] {
  if (!existsSync(join(root, "apps"))) return [];
  return [...new Set(readdirSync(join(root, "apps")).filter((f) => /\.(m?ts|m?js)$/.test(f) && !f.endsWith(".d.ts")).map((f) => f.replace(/\.[^.]+$/, "")))].sort();
}

function normalizeHooks(value: Hooks | undefined, path: string, problems: Problem[]): LoadedHook[] {
  if (value === undefined) return [];
  const list = (Array.isArray(value) ? value : [value]) as Array<HookFunction | HookSpec>;
  const out: LoadedHook[] = [];
  list.forEach((hook, index) => {
    const where = Array.isArray(value) ? `${path}[${index}]` : path;
    if (typeof hook === "function") {
      out.push({ name: hook.name || `${path.replace(/^hooks\./, "")} hook ${index + 1}`, run: hook });
      return;
    }
    if (typeof hook !== "object" || hook === null || typeof hook.run !== "function") {
      problems.push({ path: where, message: "expected a function, or { run: function, name?, roles?, once? }" });
      return;
    }
    const roles = hook.roles;
    if (roles !== undefined && (!Array.isArray(roles) || roles.some((r) => !ROLES.includes(r)))) problems.push({ path: `${where}.roles`, message: `expected roles among ${ROLES.join(", ")}` });
    const once = hook.once === undefined ? undefined : typeof hook.once === "string" ? [hook.once] : hook.once;
    if (once !== undefined && (!Array.isArray(once) || once.some((p) => typeof p !== "string" || p.startsWith("/") || p.split("/").includes("..")))) problems.push({ path: `${where}.once`, message: "expected paths relative to the release (no leading / or ..)" });
    out.push({ name: hook.name ?? (hook.run.name || `${path} hook ${index + 1}`), run: hook.run, ...(roles ? { roles } : {}), ...(once ? { once } : {}) });
  });
  return out;
}

function checkHosts(hosts: unknown, problems: Problem[]): void {
  if (!Array.isArray(hosts) || hosts.length === 0) {
    problems.push({ path: "hosts", message: "expected a non-empty list of hosts: 'ssh://user@host', { target, roles, primary }, { inventory, roles } or { search, roles }" });
    return;
  }
  hosts.forEach((spec: unknown, index) => {
    const path = `hosts[${index}]`;
    if (typeof spec === "string") return;
    if (typeof spec !== "object" || spec === null) return void problems.push({ path, message: "expected a target string or an object" });
    const record = spec as Record<string, unknown>;
    const kinds = ["target", "inventory", "search"].filter((k) => typeof record[k] === "string");
    if (kinds.length !== 1) problems.push({ path, message: "expected exactly one of target, inventory or search (a string)" });
    if (record.roles !== undefined && (!Array.isArray(record.roles) || record.roles.some((r) => !ROLES.includes(r as AppRole)))) problems.push({ path: `${path}.roles`, message: `expected a list of roles among ${ROLES.join(", ")}` });
    if (record.primary !== undefined && typeof record.primary !== "boolean" && !(Array.isArray(record.primary) && record.primary.every((r) => ROLES.includes(r as AppRole)))) problems.push({ path: `${path}.primary`, message: "expected true or a list of roles this host is the primary of" });
  });
}

function relativePaths(value: unknown, path: string, problems: Problem[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((p) => typeof p !== "string" || p === "" || p.startsWith("/") || p.split("/").includes(".."))) {
    problems.push({ path, message: "expected a list of paths relative to the release (no leading / or ..)" });
    return [];
  }
  return value as string[];
}

/** Checks an application's settings (stage applied) and fills in defaults; throws a ValidationError listing every problem. */
export function resolveApp(definition: AppDefinition, name: string, file: string, stage?: string): LoadedApp {
  const problems: Problem[] = [];
  const location = appLocation(definition);
  const chosen = stage ?? definition.defaultStage;
  let settings: AppSettings = definition;
  if (chosen !== undefined) {
    const override = definition.stages?.[chosen];
    if (!override) {
      const known = Object.keys(definition.stages ?? {});
      throw new SousError("usage", `${file}: no stage ${JSON.stringify(chosen)}${known.length ? ` (stages: ${known.join(", ")})` : " (the app declares no stages)"}`);
    }
    // A stage's hook tables merge phase by phase; every other setting replaces the base one.
    settings = { ...definition, ...override, before: { ...definition.before, ...override.before }, after: { ...definition.after, ...override.after } };
  }
  const s = settings as AppSettings & Record<string, unknown>;
  const known = new Set(["repository", "revision", "hosts", "deployTo", "linkedFiles", "linkedDirs", "keepReleases", "environment", "healthCheck", "batch", "build", "migrate", "restart", "before", "after", "minFreeMiB", "stages", "defaultStage"]);
  for (const key of Object.keys(s)) if (!known.has(key)) problems.push({ path: key, message: `not a setting of an application${didYouMean(key, known)} (settings: ${[...known].join(", ")})` });
  if (typeof s.repository !== "string" || s.repository === "" || s.repository.startsWith("-")) problems.push({ path: "repository", message: `expected a git URL or path, got ${JSON.stringify(s.repository)}` });
  if (s.revision !== undefined && (typeof s.revision !== "string" || s.revision === "" || s.revision.startsWith("-"))) problems.push({ path: "revision", message: "expected a branch, tag or commit" });
  checkHosts(s.hosts, problems);
  const deployTo = s.deployTo ?? `/srv/${name}`;
  if (typeof deployTo !== "string" || !deployTo.startsWith("/") || deployTo === "/") problems.push({ path: "deployTo", message: "expected an absolute path other than /" });
  const keepReleases = s.keepReleases ?? 5;
  if (!Number.isInteger(keepReleases) || keepReleases < 1) problems.push({ path: "keepReleases", message: `expected a whole number of at least 1, got ${JSON.stringify(keepReleases)}` });
  const minFreeMiB = s.minFreeMiB ?? 100;
  if (typeof minFreeMiB !== "number" || minFreeMiB < 0) problems.push({ path: "minFreeMiB", message: "expected a number of MiB" });
  const environment = s.environment ?? {};
  if (typeof environment !== "object" || environment === null || Object.entries(environment).some(([k, v]) => typeof v !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))) problems.push({ path: "environment", message: "expected { NAME: 'value' } with string values" });
  if (s.batch !== undefined && !(typeof s.batch === "number" && Number.isInteger(s.batch) && s.batch > 0) && !(typeof s.batch === "string" && /^(\d+|\d+(\.\d+)?%)$/.test(s.batch))) problems.push({ path: "batch", message: `expected a host count or a percentage like "25%", got ${JSON.stringify(s.batch)}` });
  let healthCheck: LoadedApp["healthCheck"];
  if (s.healthCheck !== undefined) {
    const h = s.healthCheck;
    if (typeof h !== "object" || h === null || (h.url === undefined) === (h.command === undefined)) problems.push({ path: "healthCheck", message: "expected exactly one of url or command" });
    else {
      if (h.url !== undefined && !/^https?:\/\//.test(h.url)) problems.push({ path: "healthCheck.url", message: `expected an http:// or https:// URL, got ${JSON.stringify(h.url)}` });
      for (const key of ["timeoutMs", "retries", "intervalMs"] as const) if (h[key] !== undefined && (typeof h[key] !== "number" || h[key]! < 0)) problems.push({ path: `healthCheck.${key}`, message: "expected a number of at least 0" });
      healthCheck = { timeoutMs: 5_000, retries: 10, intervalMs: 500, ...h };
    }
  }
  const hooks: LoadedApp["hooks"] = {};
  for (const slot of ["build", "migrate", "restart"] as const) {
    const list = normalizeHooks(s[slot], slot, problems);
    if (list.length) hooks[slot] = list;
  }
  for (const when of ["before", "after"] as const) {
    const table = s[when] ?? {};
    for (const [phase, value] of Object.entries(table)) {
      if (!PHASES.includes(phase as Phase)) {
        problems.push({ path: `${when}.${phase}`, message: `not a phase (phases: ${PHASES.join(", ")})` });
        continue;
      }
      if ((phase === "check" || phase === "lock") && value !== undefined && when === "before") {
        problems.push({ path: `${when}.${phase}`, message: "nothing runs before check and lock: use after.lock" });
        continue;
      }
      const list = normalizeHooks(value as Hooks, `${when}.${phase}`, problems);
      if (list.length) hooks[`${when}:${phase}` as HookSlot] = list;
    }
  }
  const linkedFiles = relativePaths(s.linkedFiles, "linkedFiles", problems);
  const linkedDirs = relativePaths(s.linkedDirs, "linkedDirs", problems);
  if (problems.length) {
    // Each problem names the setting; the app(...) call's file:line says where it was declared.
    throw new ValidationError(
      problems.map((p) => ({ ...p, location: location ?? { file, line: 1 } })),
      `application ${name}${chosen ? ` (stage ${chosen})` : ""} in ${relative(process.cwd(), file) || file} is not valid`,
    );
  }
  return {
    name,
    ...(chosen !== undefined ? { stage: chosen } : {}),
    file,
    repository: s.repository,
    revision: s.revision ?? "main",
    hosts: s.hosts,
    deployTo: deployTo.replace(/\/+$/, ""),
    linkedFiles,
    linkedDirs,
    keepReleases,
    environment,
    ...(healthCheck ? { healthCheck } : {}),
    ...(s.batch !== undefined ? { batch: s.batch } : {}),
    minFreeMiB,
    hooks,
  };
}

/** Loads, checks and resolves apps/<name>.ts of the repository at `root` for a stage. */
export async function loadApp(root: string, name: string, stage?: string): Promise<LoadedApp> {
  const file = appFile(root, name);
  const exported = await importTypeScriptFile(root, file, { prefix: "app-", errorCode: "bad-app", linkSous: true });
  if (!isApp(exported)) throw new SousError("bad-app", `${file}: the default export must be app({ ... }) (import { app } from "sous")`);
  return resolveApp(exported, name, file, stage);
}
