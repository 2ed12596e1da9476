/**
 * What a user writes in `apps/<name>.ts`: `export default app({ ... })`, a typed description of
 * how an application deploys (repository, hosts and roles, layout, hooks, health check,
 * batches, stages). A pure value: loading the file changes nothing.
 */
import type { SourceLocation } from "../core/errors.js";
import { callerLocation } from "../core/location.js";
import type { Command, ExecResult } from "../host/host.js";

/** Roles a host plays for an application. */
export type AppRole = "app" | "web" | "db" | "worker";

/** The phases of a deploy, in order; each is a barrier across hosts. */
export const PHASES = ["check", "lock", "update", "release", "link", "build", "migrate", "switch", "restart", "clean"] as const;

/** One phase of a deploy. */
export type Phase = (typeof PHASES)[number];

/** One host of an application, or a group of hosts from an inventory file or a server search. */
export type HostSpec =
  | string
  | { target: string; roles?: readonly AppRole[]; primary?: boolean | readonly AppRole[] }
  | { inventory: string; roles?: readonly AppRole[] }
  | {
      /** A search query against the server's node index, e.g. `role:web AND chef_environment:production`. */
      search: string;
      roles?: readonly AppRole[];
      /** SSH user for the hosts found (default root). */
      user?: string;
      port?: number;
      /** The node attribute holding the address to connect to (default `ipaddress`). */
      addressAttribute?: string;
    };

/** How to tell that a host serves the new release. */
export interface HealthCheck {
  /** An HTTP URL asked from the workstation; `{host}` is the host's address. A 2xx or 3xx answer is healthy. */
  url?: string;
  /** A command run on the host (in the release folder); exit code 0 is healthy. */
  command?: Command;
  /** Milliseconds one attempt may take (default 5000). */
  timeoutMs?: number;
  /** Attempts before the host counts as unhealthy (default 10). */
  retries?: number;
  /** Milliseconds between attempts (default 500). */
  intervalMs?: number;
}

/** A host as hooks see it. */
export interface HookHost {
  /** `user@address[:port]`. */
  readonly name: string;
  readonly address: string;
  readonly roles: readonly AppRole[];
  /** Whether this host is the primary one of any of its roles. */
  readonly primary: boolean;
}

/** The release being deployed, as hooks see it. */
export interface HookRelease {
  /** The release id (UTC timestamp), the same on every host. */
  readonly id: string;
  /** `releases/<id>` on the host. */
  readonly path: string;
  /** The commit being deployed. */
  readonly revision: string;
  /** The release `current` pointed to before this deploy, if any. */
  readonly previous?: string;
  readonly deployTo: string;
  readonly sharedPath: string;
  readonly currentPath: string;
}

/** Options of a command run by a hook. */
export interface HookRunOptions {
  /** Working directory (default: the release folder). */
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Values never shown in messages. */
  secrets?: readonly string[];
}

/** What a hook receives: where it runs and functions that act on that host. */
export interface HookContext {
  readonly app: string;
  readonly stage?: string;
  readonly host: HookHost;
  readonly release: HookRelease;
  /** The application's environment (also given to every command). */
  readonly env: Readonly<Record<string, string>>;
  /** Runs a command (an argv array, or `{ shell }`) on the host; throws with its output when it fails. */
  run(command: Command, options?: HookRunOptions): Promise<ExecResult>;
  /** Runs a command and says whether it exited with 0. */
  test(command: Command, options?: HookRunOptions): Promise<boolean>;
  /** Runs a command and returns its standard output, trimmed. */
  capture(command: Command, options?: HookRunOptions): Promise<string>;
  /** Writes content (or a local file's bytes) to a path on the host, atomically; a relative path is inside the release. */
  upload(content: string | Buffer | { file: string }, remotePath: string, options?: { mode?: number }): Promise<void>;
  /**
   * Runs `body` on one host only (the first of the hosts running this hook), then copies the
   * given paths (relative to the release) from that host to every other one. For work that
   * gives the same result everywhere: asset builds.
   */
  once(paths: string | readonly string[], body: () => Promise<void>): Promise<void>;
  /** A line of output shown with the host's progress. */
  log(text: string): void;
}

/** A hook: a function of its context. */
export type HookFunction = (context: HookContext) => Promise<void> | void;

/** A hook with options. */
export interface HookSpec {
  /** A name for the plan and the progress (default: the function's name). */
  name?: string;
  run: HookFunction;
  /** Only on hosts with one of these roles (default: every host of the phase). */
  roles?: readonly AppRole[];
  /** Run on one host and copy these paths (relative to the release) to the others. */
  once?: string | readonly string[];
}

/** One hook or several. */
export type Hooks = HookFunction | HookSpec | ReadonlyArray<HookFunction | HookSpec>;

/** Everything an application declares; a stage may override any of it. */
export interface AppSettings {
  /** The git repository to deploy from: a URL or a path on the hosts. */
  repository: string;
  /** Branch, tag or commit to deploy (default `main`). */
  revision?: string;
  hosts: readonly HostSpec[];
  /** Where the application lives on each host (default `/srv/<name>`). */
  deployTo?: string;
  /** Files under shared/ linked into every release (they must exist in shared/). */
  linkedFiles?: readonly string[];
  /** Folders under shared/ linked into every release (created when missing). */
  linkedDirs?: readonly string[];
  /** Good releases kept on each host (default 5). */
  keepReleases?: number;
  /** Environment of every command and hook. */
  environment?: Record<string, string>;
  healthCheck?: HealthCheck;
  /** Hosts switched at once: a count or a percentage like `"25%"` (default: all at once). */
  batch?: number | string;
  /** Build work, on every host, in the new release before the switch (`npm ci`, assets). */
  build?: Hooks;
  /** Database migrations, run once, on the primary db host. */
  migrate?: Hooks;
  /** Restart or reload the application, on each host right after its switch (before its health check). */
  restart?: Hooks;
  /** Hooks before each phase. */
  before?: Partial<Record<Phase, Hooks>>;
  /** Hooks after each phase. */
  after?: Partial<Record<Phase, Hooks>>;
  /** Free disk space each host needs under deployTo, in MiB (default 100). */
  minFreeMiB?: number;
}

/** An application: its settings, with per-stage overrides selected by `--stage`. */
export interface AppDefinition extends AppSettings {
  /** Overrides by stage name, e.g. `staging` and `production`. */
  stages?: Record<string, Partial<AppSettings>>;
  /** The stage used without `--stage`. */
  defaultStage?: string;
}

const APP_BRAND = Symbol.for("sous.app");

/** Declares an application (`export default app({ ... })` in apps/<name>.ts). */
export function app(definition: AppDefinition): AppDefinition {
  // Where app(...) was called, so that a wrong setting is reported at its file:line.
  return Object.defineProperty({ ...definition }, APP_BRAND, { value: callerLocation() ?? true, enumerable: false });
}

/** Where `app(...)` was called, when known. */
export function appLocation(value: AppDefinition): SourceLocation | undefined {
  const brand = (value as unknown as Record<symbol, unknown>)[APP_BRAND];
  return typeof brand === "object" ? (brand as SourceLocation) : undefined;
}

/** Whether a module's default export came from `app(...)`. */
export function isApp(value: unknown): value is AppDefinition {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[APP_BRAND] !== undefined;
}
