/**
 * Cookbook tests in memory (ChefSpec's tier): `converge({ runList, attributes, facts })`
 * loads the recipes as a real run does (roles, environments, attributes by precedence,
 * custom resources) and returns the resource collection without touching the system:
 * no provider reads or applies anything; templates are rendered and cookbook files read, as
 * a run's prepare step does. `expect(run)` has matchers for resources, rendered content and
 * notifications; tests run on Node's test runner (`sous test`).
 */
import { AssertionError } from "node:assert";
import { isDeepStrictEqual } from "node:util";
import { allResources } from "../core/collection.js";
import { prepareOnly } from "../core/engine.js";
import { SousError } from "../core/errors.js";
import type { PropertySpec } from "../core/properties.js";
import { type DeclaredResource, type Notification, resourcePath } from "../core/resource.js";
import { loadRun, type LoadedRun } from "../cookbook/load.js";
import { findRepositoryRoot } from "../cookbook/repository.js";
import type { AttributeTree } from "../dsl.js";
import type { Host } from "../host/host.js";

/** What an in-memory converge is given. */
export interface TestConvergeOptions {
  /** The run list: `recipe[web]`, `role[base]`, or a list of them. */
  runList: string | readonly string[];
  /** The node's normal attributes (like `-j node.json`). */
  attributes?: AttributeTree;
  /** Facts merged over the default ones (a Debian 12 machine named `test`). */
  facts?: AttributeTree;
  environment?: string;
  nodeName?: string;
  /** The repository (default: $SOUS_TEST_REPOSITORY, set by `sous test`, or the one holding the working directory). */
  repo?: string;
}

/** One resource of an in-memory run. */
export interface TestResource {
  /** `type[name]`. */
  readonly id: string;
  /** With the custom resources it is inside: `webapp_site[shop] > template[/etc/shop.conf]`. */
  readonly path: string;
  readonly type: string;
  readonly name: string;
  /** Checked and normalized properties (modes are numbers, defaults filled in). */
  readonly properties: Readonly<Record<string, unknown>>;
  readonly actions: readonly string[];
  /** Where it was declared. */
  readonly location?: { file: string; line: number };
  /** `cookbook::recipe`. */
  readonly recipe?: string;
}

/** A notification between two resources of the run. */
export interface TestNotification {
  readonly source: string;
  readonly target: string;
  readonly action: string;
  readonly timing: "delayed" | "immediately";
}

/** The result of an in-memory converge. */
export interface TestRun {
  /** Every resource in converge order, custom resources followed by their inner ones. */
  readonly resources: readonly TestResource[];
  /** The node as recipes saw it. */
  readonly node: LoadedRun["node"];
  /** The resource with this id or path; throws naming the resources of that type when there is none (or several). */
  resource(id: string): TestResource;
  /** The resource with this id or path, or undefined. */
  tryResource(id: string): TestResource | undefined;
  /** The content a file or template resource would write (rendered templates, cookbook files, `content`). */
  content(id: string): string;
  /** Notifications sent by the resource with this id or path. */
  notificationsFrom(id: string): readonly TestNotification[];
}

/** The facts of a Debian 12 machine, for recipes that read the platform, addresses and sizes. */
export const DEFAULT_FACTS: AttributeTree = {
  hostname: "test",
  fqdn: "test.example",
  domain: "example",
  platform: "debian",
  platform_family: "debian",
  platform_version: "12",
  os: "linux",
  kernel: { name: "Linux", release: "6.1.0-test", machine: "x86_64" },
  ipaddress: "10.0.0.10",
  cpu: { total: 2 },
  memory: { total: "4030000kB" },
  init_package: "systemd",
};

/** The declared resource behind a path, for matchers that need its property specs. */
const DECLARED = Symbol("declared");
type TestRunInternal = TestRun & { [DECLARED]?: (path: string) => DeclaredResource | undefined };

/** A host that no in-memory test may touch: a provider step reaching for it is a bug worth a clear message. */
function noHost(): Host {
  return new Proxy({ name: "memory" } as Host, {
    get(target, property) {
      if (property === "name") return target.name;
      if (property === "then") return undefined;
      return () => {
        throw new SousError("in-memory", `an in-memory converge touches no machine, but a resource's prepare step called host.${String(property)}`);
      };
    },
  });
}

/** Loads a run list's recipes into a collection, without reading or changing any machine. */
export async function converge(options: TestConvergeOptions): Promise<TestRun> {
  const root = options.repo ?? process.env.SOUS_TEST_REPOSITORY ?? findRepositoryRoot(process.cwd());
  if (!root) throw new SousError("no-repository", "converge: no repository (pass repo, or run the test through sous test)");
  const loaded = await loadRun({
    root,
    runList: options.runList,
    ...(options.environment !== undefined ? { environment: options.environment } : {}),
    ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
    normal: options.attributes ?? {},
    facts: { ...DEFAULT_FACTS, ...(options.facts ?? {}) },
    // Tests run on what is being written, not on what was locked.
    useLock: false,
  });
  const declared = allResources(loaded.collection);
  const prepared = await prepareOnly({ host: noHost(), collection: loaded.collection, events: () => undefined, backupDir: "/nonexistent" });
  const byPath = new Map<string, DeclaredResource>();
  for (const resource of declared) byPath.set(resourcePath(resource), resource);
  const view = (resource: DeclaredResource): TestResource => ({
    id: resource.id,
    path: resourcePath(resource),
    type: resource.type,
    name: resource.name,
    properties: resource.properties,
    actions: resource.actions,
    ...(resource.location ? { location: resource.location } : {}),
    ...(resource.recipe ? { recipe: resource.recipe } : {}),
  });
  const lookup = (id: string): DeclaredResource[] => {
    const exact = byPath.get(id);
    return exact ? [exact] : declared.filter((r) => r.id === id);
  };
  const find = (id: string): DeclaredResource => {
    const found = lookup(id);
    if (found.length === 1) return found[0]!;
    if (found.length > 1) throw new AssertionError({ message: `${id} is declared ${found.length} times in the run (${found.map(resourcePath).join("; ")}): name it by its path` });
    throw new AssertionError({ message: `the run has no ${id}${similar(declared, id)}` });
  };
  const notificationsOf = (resource: DeclaredResource): TestNotification[] =>
    ((loaded.collection.notifications.get(resource) ?? []) as Notification[]).map((n) => ({ source: resourcePath(n.source), target: resourcePath(n.target), action: n.action, timing: n.timing }));
  const run: TestRunInternal = {
    [DECLARED]: (path: string) => byPath.get(path),
    resources: declared.map(view),
    node: loaded.node,
    resource: (id) => view(find(id)),
    tryResource: (id) => {
      const found = lookup(id);
      return found.length === 1 ? view(found[0]!) : undefined;
    },
    content(id) {
      const resource = find(id);
      const made = prepared.get(resource);
      if (Buffer.isBuffer(made)) return made.toString("utf8");
      const content = resource.properties.content;
      if (typeof content === "string") return content;
      if (Buffer.isBuffer(content)) return content.toString("utf8");
      throw new AssertionError({ message: `${resourcePath(resource)} writes no content (it is a ${resource.type} with actions ${resource.actions.join(", ")})` });
    },
    notificationsFrom: (id) => notificationsOf(find(id)),
  };
  return run;
}

/** ", resources of that type: ..." for a message about a missing resource. */
function similar(declared: readonly DeclaredResource[], id: string): string {
  const type = /^([^[]+)\[/.exec(id.split(" > ").at(-1) ?? id)?.[1];
  const sameType = declared.filter((r) => r.type === type).map(resourcePath);
  if (sameType.length) return `; its ${type} resources: ${sameType.slice(0, 10).join(", ")}${sameType.length > 10 ? ", ..." : ""}`;
  return `; it has ${declared.length} resources${declared.length ? `: ${declared.slice(0, 8).map(resourcePath).join(", ")}${declared.length > 8 ? ", ..." : ""}` : ""}`;
}

function show(value: unknown, property?: string): string {
  if (typeof value === "number" && property === "mode") return `"0${value.toString(8)}"`;
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString("utf8"));
  return JSON.stringify(value) ?? String(value);
}

/** Whether `actual` has what `expected` says: objects by the keys given, the rest by deep equality. */
function matches(actual: unknown, expected: unknown): boolean {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected) && !Buffer.isBuffer(expected) && actual !== null && typeof actual === "object" && !Array.isArray(actual)) {
    return Object.entries(expected).every(([key, value]) => matches((actual as Record<string, unknown>)[key], value));
  }
  if (expected instanceof RegExp) return typeof actual === "string" && expected.test(actual);
  return isDeepStrictEqual(actual, expected);
}

/** The property differences between a resource and what a test expects of it (values written as a recipe would). */
function propertyMismatches(run: TestRun, resource: TestResource, expected: Record<string, unknown>): string[] {
  const declared = (run as TestRunInternal)[DECLARED]?.(resource.path);
  const specs = (declared?.resourceType.properties ?? {}) as Record<string, PropertySpec>;
  const out: string[] = [];
  for (const [key, want] of Object.entries(expected)) {
    if (key === "action") {
      const actions = Array.isArray(want) ? want : [want];
      if (!isDeepStrictEqual([...resource.actions], actions)) out.push(`action: expected ${show(actions)}, got ${show(resource.actions)}`);
      continue;
    }
    let normalized = want;
    const spec = specs[key];
    if (spec && !(want instanceof RegExp) && !(want !== null && typeof want === "object" && !Array.isArray(want))) {
      try {
        normalized = spec.normalize(want);
      } catch {
        // Compared as written: the mismatch message shows both.
      }
    }
    const got = resource.properties[key];
    if (!matches(got, normalized)) out.push(`${key}: expected ${show(normalized, key)}, got ${show(got, key)}`);
  }
  return out;
}

/** Matchers on an in-memory run. */
export interface RunMatchers {
  /** The run declares this resource (by id or path), with these properties (as a recipe writes them: `mode: "0640"`). */
  toHaveResource(id: string, properties?: Record<string, unknown>): void;
  /** A file or template resource writes this content (a string, or a RegExp it matches). */
  toRender(id: string, content: string | RegExp): void;
  /** `source` notifies `target` to run `action` (delayed unless `timing` says otherwise). */
  toNotify(source: string, action: string, target: string, timing?: "delayed" | "immediately"): void;
  /** The opposite of each matcher. */
  readonly not: Pick<RunMatchers, "toHaveResource" | "toNotify">;
}

/** Matchers on an in-memory run: `expect(run).toHaveResource("template[/etc/app.conf]", { mode: "0640" })`. */
export function expect(run: TestRun): RunMatchers {
  const fail = (message: string, stackStart: (...args: never[]) => unknown): never => {
    throw new AssertionError({ message, stackStartFn: stackStart });
  };
  const matchers: RunMatchers = {
    toHaveResource(id, properties) {
      const resource = run.tryResource(id);
      if (!resource) {
        try {
          run.resource(id);
        } catch (error) {
          fail((error as Error).message, matchers.toHaveResource);
        }
        return;
      }
      const mismatches = properties ? propertyMismatches(run, resource, properties) : [];
      if (mismatches.length) fail(`${resource.path}${resource.location ? ` (${resource.location.file}:${resource.location.line})` : ""}:\n  ${mismatches.join("\n  ")}`, matchers.toHaveResource);
    },
    toRender(id, content) {
      const actual = run.content(id);
      const ok = typeof content === "string" ? actual === content : content.test(actual);
      if (!ok) fail(`${run.resource(id).path} renders:\n${indent(actual)}\nwhich ${typeof content === "string" ? `is not:\n${indent(content)}` : `does not match ${String(content)}`}`, matchers.toRender);
    },
    toNotify(source, action, target, timing = "delayed") {
      const sent = run.notificationsFrom(source);
      const targetPath = run.resource(target).path;
      if (!sent.some((n) => n.action === action && n.target === targetPath && n.timing === timing)) {
        fail(`${run.resource(source).path} does not notify ${action} ${targetPath} (${timing}); it notifies: ${sent.map((n) => `${n.action} ${n.target} (${n.timing})`).join(", ") || "nothing"}`, matchers.toNotify);
      }
    },
    not: {
      toHaveResource(id, properties) {
        const resource = run.tryResource(id);
        if (resource && (!properties || propertyMismatches(run, resource, properties).length === 0)) {
          fail(`the run has ${resource.path}${properties ? ` with ${show(properties)}` : ""}, declared at ${resource.location ? `${resource.location.file}:${resource.location.line}` : "(unknown)"}`, matchers.not.toHaveResource);
        }
      },
      toNotify(source, action, target, timing = "delayed") {
        const targetPath = run.resource(target).path;
        if (run.notificationsFrom(source).some((n) => n.action === action && n.target === targetPath && n.timing === timing)) fail(`${run.resource(source).path} notifies ${action} ${targetPath} (${timing})`, matchers.not.toNotify);
      },
    },
  };
  return matchers;
}

function indent(text: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
