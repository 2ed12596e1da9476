/**
 * Runs an application's hooks: builds each host's typed context (run, test, capture, upload,
 * once, log) on its Host, filters hooks by role, and coordinates `once` work: one host does
 * it, its output is packed there, carried through this workstation and unpacked on the others.
 */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { errorMessage, SousError } from "../core/errors.js";
import { type Command, CommandFailedError, type ExecOptions, type ExecResult, type Host } from "../host/host.js";
import type { HookContext, HookHost, HookRelease, HookRunOptions } from "./definition.js";
import type { DeployHost } from "./hosts.js";
import type { LoadedHook } from "./load.js";

/** A hook that failed on a host, with what its command printed. */
export class HookFailedError extends SousError {
  constructor(
    readonly hook: string,
    readonly host: string,
    message: string,
    /** The failing command's output (last lines of stdout and stderr). */
    readonly output?: string,
  ) {
    // The host is named by whoever shows it (each failure is shown under its host).
    super("hook-failed", `${/\bhook\b/.test(hook) ? hook : `hook ${hook}`} failed: ${message}${output ? `\n${output}` : ""}`);
    this.name = "HookFailedError";
  }
}

/** The last `lines` lines of a command's output, for failure messages. */
export function outputTail(result: Pick<ExecResult, "stdout" | "stderr">, lines = 20): string {
  const text = [result.stdout.trimEnd(), result.stderr.trimEnd()].filter(Boolean).join("\n");
  const all = text.split("\n");
  return (all.length > lines ? ["...", ...all.slice(-lines)] : all).map((l) => `    ${l}`).join("\n");
}

/** Everything a hook's context is made of, for one host. */
export interface HookTarget {
  deployHost: DeployHost;
  host: Host;
  release: HookRelease;
}

/** Shared by all hosts running one hook: the `once` work in progress, by call. */
interface OnceState {
  runner: string;
  calls: Map<number, Promise<Buffer | undefined>>;
  /** Set when the runner finished the hook (or failed it): a call it has not made by then never comes. */
  finished?: string;
}

// The file size above which `once` refuses to carry output (a host's file is read whole).
const ONCE_LIMIT = 4 * 1024 * 1024 - 1024;

/** Runs a command with the app's environment, in the release unless told otherwise. */
async function runOn(target: HookTarget, env: Record<string, string>, command: Command, options: HookRunOptions = {}): Promise<ExecResult> {
  const exec: ExecOptions = { cwd: options.cwd ?? target.release.path, env: { ...env, ...options.env } };
  if (options.timeoutMs !== undefined) exec.timeoutMs = options.timeoutMs;
  if (options.secrets) exec.secrets = options.secrets;
  return target.host.exec(command, exec);
}

/** The environment every hook command gets: the app's, and where the release is. */
export function releaseEnvironment(app: string, env: Record<string, string>, release: HookRelease): Record<string, string> {
  return { ...env, SOUS_APP: app, SOUS_RELEASE: release.id, SOUS_RELEASE_PATH: release.path, SOUS_REVISION: release.revision, SOUS_DEPLOY_TO: release.deployTo };
}

function hookHost(deployHost: DeployHost): HookHost {
  return { name: deployHost.name, address: deployHost.target.host, roles: deployHost.roles, primary: deployHost.primaryOf.length > 0 };
}

/** Packs `paths` of the release on the runner host and returns the archive's bytes. */
async function pack(target: HookTarget, paths: readonly string[]): Promise<Buffer> {
  const archive = posix.join(target.release.deployTo, `.sous-once-${randomBytes(6).toString("hex")}.tar.gz`);
  try {
    const result = await target.host.exec(["tar", "-czf", archive, "-C", target.release.path, "--", ...paths]);
    if (result.exitCode !== 0) throw new Error(`packing ${paths.join(", ")} failed:\n${outputTail(result)}`);
    const stat = await target.host.tryStat(archive);
    if (!stat || stat.size > ONCE_LIMIT) throw new Error(`the output of ${paths.join(", ")} is ${stat ? `${(stat.size / 1048576).toFixed(1)} MiB packed` : "missing"}; once carries at most 4 MiB`);
    const bytes = await target.host.tryReadFile(archive);
    if (!bytes || bytes.length !== stat.size) throw new Error(`reading the packed output of ${paths.join(", ")} failed`);
    return bytes;
  } finally {
    await target.host.remove(archive).catch(() => {});
  }
}

/** Unpacks the runner's archive into this host's release, replacing what was at those paths. */
async function unpack(target: HookTarget, paths: readonly string[], bytes: Buffer): Promise<void> {
  const archive = posix.join(target.release.deployTo, `.sous-once-${randomBytes(6).toString("hex")}.tar.gz`);
  try {
    await target.host.writeFileAtomic(archive, bytes, { mode: 0o600 });
    for (const path of paths) await target.host.remove(posix.join(target.release.path, path), { recursive: true });
    const result = await target.host.exec(["tar", "-xzf", archive, "-C", target.release.path]);
    if (result.exitCode !== 0) throw new Error(`unpacking ${paths.join(", ")} failed:\n${outputTail(result)}`);
  } finally {
    await target.host.remove(archive).catch(() => {});
  }
}

/**
 * Runs the hooks of one slot on every target, all hosts at once, hook after hook on each host;
 * resolves with one error (or undefined) per target. `log` receives the hooks' log lines.
 */
export async function runHooks(
  hooks: readonly LoadedHook[],
  targets: readonly HookTarget[],
  base: { app: string; stage?: string; env: Record<string, string> },
  onActivity: (host: string, text: string) => void,
): Promise<Array<Error | undefined>> {
  const errors: Array<Error | undefined> = targets.map(() => undefined);
  const states = hooks.map((hook): OnceState | undefined => {
    const first = targets.find((t) => !hook.roles || hook.roles.some((r) => t.deployHost.roles.includes(r)));
    return first ? { runner: first.deployHost.name, calls: new Map() } : undefined;
  });
  await Promise.all(
    targets.map(async (target, index) => {
      for (const [hookIndex, hook] of hooks.entries()) {
        if (hook.roles && !hook.roles.some((r) => target.deployHost.roles.includes(r))) continue;
        const state = states[hookIndex]!;
        const env = releaseEnvironment(base.app, base.env, target.release);
        let call = 0;
        let lastResult: ExecResult | undefined;
        const tracked = async (command: Command, options?: HookRunOptions) => {
          onActivity(target.deployHost.name, `${hook.name}: ${"shell" in command ? command.shell : command.join(" ")}`.slice(0, 200));
          lastResult = await runOn(target, env, command, options);
          return lastResult;
        };
        const context: HookContext = {
          app: base.app,
          ...(base.stage !== undefined ? { stage: base.stage } : {}),
          host: hookHost(target.deployHost),
          release: target.release,
          env,
          async run(command, options) {
            const result = await tracked(command, options);
            if (result.exitCode !== 0) throw new CommandFailedError(result);
            return result;
          },
          async test(command, options) {
            return (await tracked(command, options)).exitCode === 0;
          },
          async capture(command, options) {
            const result = await tracked(command, options);
            if (result.exitCode !== 0) throw new CommandFailedError(result);
            return result.stdout.trim();
          },
          async upload(content, remotePath, options) {
            const bytes = typeof content === "object" && !Buffer.isBuffer(content) ? readFileSync(content.file) : content;
            const path = remotePath.startsWith("/") ? remotePath : posix.join(target.release.path, remotePath);
            await target.host.writeFileAtomic(path, bytes, { mode: options?.mode ?? 0o644 });
          },
          async once(paths, body) {
            const list = typeof paths === "string" ? [paths] : [...paths];
            const n = call++;
            if (target.deployHost.name === state.runner) {
              const work = (async () => {
                await body();
                return list.length ? pack(target, list) : undefined;
              })();
              state.calls.set(n, work);
              await work;
              return;
            }
            // The runner registers its call when it gets there; wait for it.
            while (!state.calls.has(n)) {
              if (state.finished) throw new Error(`the once work on ${state.runner} did not happen: ${state.finished}`);
              await new Promise((r) => setTimeout(r, 20));
            }
            let bytes: Buffer | undefined;
            try {
              bytes = await state.calls.get(n)!;
            } catch (error) {
              throw new Error(`the once work on ${state.runner} failed: ${errorMessage(error)}`);
            }
            if (bytes) await unpack(target, list, bytes);
          },
          log(text) {
            onActivity(target.deployHost.name, `${hook.name}: ${text}`);
          },
        };
        const runner = target.deployHost.name === state.runner;
        try {
          if (hook.once) await context.once(hook.once, async () => void (await hook.run(context)));
          else await hook.run(context);
          if (runner) state.finished = "the hook ended without it";
        } catch (error) {
          const result = error instanceof CommandFailedError ? error.result : lastResult && lastResult.exitCode !== 0 ? lastResult : undefined;
          errors[index] = new HookFailedError(hook.name, target.deployHost.name, errorMessage(error), result ? outputTail(result) : undefined);
          // A runner that failed must not leave the other hosts waiting for its once work, in this hook or the next ones.
          if (runner) for (const other of states) if (other?.runner === state.runner) other.finished ??= `hook ${hook.name} failed there`;
          return;
        }
      }
    }),
  );
  return errors;
}
