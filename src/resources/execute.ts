/** `execute`: runs a command, guarded by `creates` and the engine's onlyIf/notIf. */
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import { CommandFailedError } from "../host/host.js";
import { commandWord, type Requirement } from "../core/preconditions.js";

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** A shell command string (run by /bin/sh -c) or an argv array; defaults to the resource name. */
  command: prop.command(),
  /** The working directory. */
  cwd: prop.absolutePath({ role: "control" }),
  /** Extra environment variables. */
  environment: prop.stringRecord({ role: "control" }),
  /** Run as this user (name or uid). */
  user: prop.principal("user", { role: "control" }),
  /** Run with this group (name or gid). */
  group: prop.principal("group", { role: "control" }),
  /** Do not run when this path exists (relative to cwd when not absolute). */
  creates: prop.string({ role: "control", nonEmpty: true }),
  /** Exit codes that count as success (default [0]). */
  returns: prop.integerArray({ role: "control", default: () => [0] }),
  /** Seconds before the command is killed (default 3600). */
  timeout: prop.seconds({ role: "control", default: 3600 }),
};

/** What a recipe writes for `execute` (derived from its property specs). */
export type ExecuteInput = InputOf<typeof properties>;

/** Actions of `execute`. */
export type ExecuteAction = (typeof executeType.actions)[number];

/** The `execute` resource type. */
export const executeType = defineType({
  name: "execute",
  description: "Runs a command (argv or shell), with cwd, environment, user, creates, accepted exit codes and a timeout.",
  actions: ["run", "nothing"],
  defaultAction: "run",
  identity: "name",
  properties,
  validate(properties) {
    return properties.creates !== undefined && !properties.creates.startsWith("/") && properties.cwd === undefined ? [["creates", "a relative path needs cwd; give an absolute path or set cwd"]] : [];
  },
  requires(properties) {
    const out: Requirement[] = [];
    const word = commandWord(properties.command ?? properties.name);
    if (word !== undefined) out.push({ kind: "command", name: word, property: "command" });
    if (properties.cwd !== undefined) out.push({ kind: "directory", path: properties.cwd, property: "cwd" });
    if (properties.user !== undefined) out.push({ kind: "user", name: properties.user, property: "user" });
    if (properties.group !== undefined) out.push({ kind: "group", name: properties.group, property: "group" });
    return out;
  },
  guardOptions: (properties) => ({ cwd: properties.cwd, env: properties.environment, user: properties.user, group: properties.group }),
  provider: {
    async read({ host }, properties): Promise<{ created: boolean; creates?: string }> {
      if (properties.creates === undefined) return { created: false };
      const path = properties.cwd && !properties.creates.startsWith("/") ? `${properties.cwd}/${properties.creates}` : properties.creates;
      return { created: (await host.tryLstat(path)) !== undefined, creates: path };
    },
    plan(current, properties) {
      if (current.created) return { changes: [], reason: `${current.creates} exists (creates)` };
      const command = properties.command ?? properties.name;
      const changes = [{ property: "command", from: undefined, to: typeof command === "string" ? command : command.join(" ") }];
      return current.creates ? { changes, reason: `${current.creates} does not exist (creates)` } : { changes };
    },
    async apply({ host }, _plan, properties) {
      const command = properties.command ?? properties.name;
      const result = await host.exec(typeof command === "string" ? { shell: command } : command, {
        cwd: properties.cwd,
        env: properties.environment,
        user: properties.user,
        group: properties.group,
        timeoutMs: properties.timeout * 1000,
      });
      if (result.timedOut || result.exitCode === null || !properties.returns.includes(result.exitCode)) throw new CommandFailedError(result);
    },
  },
});
