/** The `sous` command line. */
import { Command, CommanderError, Option } from "commander";
import { resolve } from "node:path";
import { SousError } from "../core/errors.js";
import { VERSION } from "../version.js";
// Types only: each command's module is imported when that command runs, so a run pays
// only for what it uses (a no-op converge never loads SSH, the server or the type checker).
import type { ConvergeCliOptions, Output } from "./converge.js";
import type { PushCliOptions, SshCliOptions } from "./push.js";
import { addSshOptions } from "./ssh-flags.js";

/**
 * Writes to a stream, and stops writing (without failing the run) once the reader has gone:
 * `sous converge | head` must still converge and write its report.
 */
function safeWriter(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") closed = true;
    else throw error;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

function defaultOutput(): Output {
  return {
    stdout: safeWriter(process.stdout),
    stderr: safeWriter(process.stderr),
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    sameTerminal: process.stdout.isTTY === true && process.stderr.isTTY === true,
  };
}

async function repositoryRoot(repo: string | undefined): Promise<string> {
  return (await import("../run/repository.js")).repositoryRoot(repo);
}

/** Converge options as commander parses them, with Chef's spellings folded in. */
type ConvergeFlags = PushCliOptions & { whyRun?: boolean; overrideRunlist?: string; logLevel?: string; query?: string; timeout?: string };

function convergeOptions(flags: ConvergeFlags): PushCliOptions {
  const { whyRun, overrideRunlist, ...options } = flags;
  return { ...options, dryRun: options.dryRun || whyRun, runList: options.runList ?? overrideRunlist } as ConvergeCliOptions & PushCliOptions;
}

/** Commands that never talk to a server: for them the server's modules are not loaded. */
const LOCAL_COMMANDS = new Set(["converge", "demo", "init", "resources", "exec", "facts", "lock", "test", "machine", "deploy", "agent", "bootstrap"]);
const LOCAL_COOKBOOK_COMMANDS = new Set(["create", "check"]);

/** Whether `argv` may need the server's commands (help needs them all). */
function needsServerCommands(argv: readonly string[]): boolean {
  const [first, second] = argv;
  if (first === "-V" || first === "--version") return false;
  if (first === undefined || first.startsWith("-")) return true;
  if (LOCAL_COMMANDS.has(first)) return false;
  return !(first === "cookbook" && second !== undefined && LOCAL_COOKBOOK_COMMANDS.has(second));
}

/** Targets that are containers on this machine (converged like this machine, through their namespaces). */
const CONTAINER_TARGET = /^(nsenter|machine):\/\//;

/** Builds the command tree; `exit` receives each command's exit code. */
export async function buildProgram(output: Output, exit: (code: number) => void, argv: readonly string[] = []): Promise<Command> {
  const program = new Command("sous")
    .description("Infrastructure as TypeScript code: converge machines, know the fleet, deploy applications.")
    .version(VERSION)
    // The mistake and the closest flag (commander's suggestion), not the whole help after it.
    .showHelpAfterError("(add --help for every option)")
    .exitOverride()
    .configureOutput({ writeOut: output.stdout, writeErr: output.stderr });

  const converge = program
    .command("converge")
    .argument("[targets...]", "ssh://user@host[:port] targets to push to, or one container on this machine: nsenter://PID of its init, machine://NAME (systemd-machined) (default: this machine)")
    .description("Converge this machine, a container or root directory on it, or SSH targets, to the run list (recipes from the repository)")
    .option("--root <dir>", "converge the system in this root directory (through chroot) instead of this machine")
    .option("-i, --inventory <file>", "file of targets, one per line (push mode)")
    .option("-c, --concurrency <n>", "how many targets at once (push mode)")
    .option("-r, --run-list <items>", "run list, comma-separated: 'recipe[web],role[base]'")
    .option("-E, --environment <name>", "environment (default: sous.config.ts's, or _default)")
    .option("-N, --node-name <name>", "node name (default: the machine's FQDN)")
    .option("-j, --json-attributes <file>", "JSON file of normal attributes (may hold run_list)")
    .option("--repo <dir>", "repository (default: the nearest folder with sous.config.ts or cookbooks/)")
    .addOption(new Option("-o, --override-runlist <items>", "same as --run-list (chef-client's spelling)").hideHelp())
    .option("--dry-run", "show what would change, with diffs; change nothing")
    .addOption(new Option("-W, --why-run", "same as --dry-run (chef-client's spelling)").hideHelp())
    .option("--why", "show the property changes behind each update, and notifications")
    .option("--diff", "show unified diffs of changed content (the default)")
    .option("--no-diff", "do not show unified diffs of changed content")
    .option("--json", "write events as JSON lines on stdout")
    .addOption(new Option("-l, --log-level <level>", "how much to show").choices(["debug", "info", "warn"]).default("info"))
    .option("--report <file>", "where to write the run report (default: .sous/runs/last-run.json)")
    .option("--backup-dir <dir>", "where previous versions of changed files are kept")
    .option("--query <query>", "converge now the nodes this search returns, through their agents, and show their run reports as they arrive (needs a server)")
    .option("--timeout <seconds>", "with --query: how long to wait for the nodes' reports (default 600)")
    .option("--search-dir <dir>", "answer recipes' search() and dataBagItem() from this folder's nodes/*.json and data_bags/BAG/*.json (default: the repository's own such folders, else the configured Sous server)")
    .option("--no-server-reports", "push mode: send no run reports to the configured Sous server (sent by default when one is configured)")
    .option("--no-color", "no colors");
  addSshOptions(converge).action(async (targets: string[], flags: ConvergeFlags) => {
    const options = convergeOptions(flags);
    if (flags.query !== undefined) {
      if (targets.length > 0 || options.inventory || options.root !== undefined) throw new SousError("usage", "--query converges the nodes a search returns, through their agents: pass no targets, --inventory or --root with it");
      exit(await (await import("./converge-query.js")).convergeQueryCommand(flags.query, { ...(flags.timeout !== undefined ? { timeout: flags.timeout } : {}), json: options.json === true }, output));
      return;
    }
    const containers = targets.filter((target) => CONTAINER_TARGET.test(target));
    if (containers.length > 0 || options.root !== undefined) {
      if (targets.length > 1 || options.inventory) throw new SousError("usage", "a container target or --root converges one machine at a time: pass SSH targets in a separate run");
      exit(await (await import("./converge.js")).convergeCommand(options, output, containers[0]));
    } else if (targets.length > 0 || options.inventory) exit(await (await import("./push.js")).pushCommand(targets, options, output));
    else exit(await (await import("./converge.js")).convergeCommand(options, output));
  });

  addSshOptions(
    program
      .command("exec")
      .argument("<command>", "shell command to run on every target, e.g. 'uname -a'")
      .argument("[targets...]", "ssh://user@host[:port] targets")
      .description("Run one command on many SSH targets at once and show each host's output")
      .option("-i, --inventory <file>", "file of targets, one per line")
      .option("-c, --concurrency <n>", "how many targets at once")
      .option("--timeout <seconds>", "kill the command after this long")
      .option("--persist <seconds>", "keep the connections open this long for the next sous exec, in a background process (env SOUS_SSH_PERSIST; 0: connect afresh every time)", undefined)
      .option("--json", "one JSON line per host"),
  ).action(async (command: string, targets: string[], options: SshCliOptions & { timeout?: string; persist?: string }) =>
    exit(await (await import("./exec.js")).execCommand(command, targets, options, output)),
  );
  // The background process that keeps sous exec's connections (started by sous exec itself).
  program
    .command("ssh-persist", { hidden: true })
    .argument("<socket>")
    .argument("<seconds>")
    .action(async (socket: string, seconds: string) => (await import("../run/fleet.js")).keepConnections(socket, Number(seconds)));

  program
    .command("demo")
    .description("Quick start: converge the shipped example into a scratch folder, then again (nothing changes)")
    .option("--dir <dir>", "scratch folder to use (default: a new one under /tmp)")
    .action(async (options: { dir?: string }) => exit(await (await import("./demo.js")).demoCommand(output, options)));

  program
    .command("facts")
    .argument("[attributes...]", "only these attributes, e.g. platform kernel/release kernel.release")
    .option("--json", "print JSON (the only format; accepted so that scripts may say so)")
    .description("Print this machine's facts (the automatic attributes recipes see) as JSON")
    .action(async (attributes: string[]) => exit(await (await import("./facts.js")).factsCommand(attributes, output)));

  program
    .command("init")
    .argument("[dir]", "where to create the repository", ".")
    .description("Create a repository: sous.config.ts, a hello cookbook, a role and an environment")
    .action(async (dir: string) => {
      const root = resolve(dir);
      const created = (await import("../run/scaffold.js")).initRepository(root);
      output.stdout(created.length ? `Created:\n${created.map((f) => `  ${f}`).join("\n")}\n` : `Nothing to create: ${root} already has a repository.\n`);
      output.stdout(`\nNext: cd ${root} && sous converge --dry-run\n`);
      exit(0);
    });

  const cookbook = program.command("cookbook").description("Work with cookbooks");
  cookbook
    .command("create")
    .argument("<name>", "cookbook name")
    .option("--repo <dir>", "repository (default: the nearest one)")
    .description("Create cookbooks/NAME with a recipe, attributes and a template that converge as they are")
    .action(async (name: string, options: { repo?: string }) => {
      const created = (await import("../run/scaffold.js")).createCookbook(await repositoryRoot(options.repo), name);
      output.stdout(`Created:\n${created.map((f) => `  ${f}`).join("\n")}\n`);
      exit(0);
    });
  cookbook
    .command("check")
    .option("--repo <dir>", "repository (default: the nearest one)")
    .description("Type-check every recipe, attribute file, role and environment of the repository")
    .action(async (options: { repo?: string }) => {
      const root = await repositoryRoot(options.repo);
      const { files, problems } = await (await import("../run/check.js")).checkRepository(root);
      for (const p of problems) output.stderr(`${p.file}:${p.line}:${p.column} ${p.message}\n`);
      output.stdout(problems.length ? `${problems.length} type error${problems.length === 1 ? "" : "s"} in ${files} files\n` : `${files} files type-check\n`);
      exit(problems.length ? 1 : 0);
    });

  program
    .command("resources")
    .description("List the resource types with their actions and properties (in a repository, its cookbooks' custom resources too)")
    .option("--repo <dir>", "repository whose custom resources to list (default: the nearest one, if any)")
    .action(async (options: { repo?: string }) => {
      const root = (await import("../run/repository.js")).tryRepositoryRoot(options.repo);
      for (const { type, cookbook } of await (await import("../run/resource-types.js")).availableResourceTypes(root)) {
        output.stdout(`${type.name}${cookbook ? ` (custom resource of ${cookbook})` : ""}: ${type.description}\n  actions: ${type.actions.join(", ")} (default ${type.defaultAction})\n`);
        for (const [name, spec] of Object.entries(type.properties as Record<string, import("../core/properties.js").PropertySpec>)) {
          output.stdout(`  ${name} (${spec.role}${spec.sensitive ? ", sensitive" : ""}${spec.required ? ", required" : ""}): ${spec.expected}\n`);
        }
      }
      exit(0);
    });

  (await import("./authoring.js")).registerAuthoringCommands(program, output, exit);
  (await import("./deploy.js")).registerDeployCommands(program, output, exit);
  (await import("./agent-commands.js")).registerAgentCommands(program, output, exit);

  if (needsServerCommands(argv)) {
    const server = await import("./server-commands.js");
    server.registerServerCommands(program);
    server.registerCookbookServerCommands(cookbook);
  }
  return program;
}

/** Runs the `sous` command line and resolves to the process exit code. */
export async function main(argv: string[], output: Output = defaultOutput()): Promise<number> {
  let code = 0;
  const program = await buildProgram(
    output,
    (c) => {
      code = c;
    },
    argv,
  );
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof SousError && error.code === "usage") {
      output.stderr(`sous: ${error.message}\n`);
      return 2;
    }
    if (error instanceof SousError) {
      output.stderr(`sous: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
