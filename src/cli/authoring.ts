/**
 * The cookbook author's commands: `sous lock`, `sous test`, `sous machine`. Registered by
 * main.ts; each command's code is imported when it runs.
 */
import type { Command } from "commander";
import type { Output } from "./converge.js";

async function repositoryRoot(repo: string | undefined): Promise<string> {
  return (await import("../run/repository.js")).repositoryRoot(repo);
}

/** Adds `lock`, `test` and `machine` to the program. */
export function registerAuthoringCommands(program: Command, output: Output, exit: (code: number) => void): void {
  program
    .command("lock")
    .description("Resolve every role's run list in every environment to exact cookbook versions and content digests (sous.lock.json)")
    .option("--update <names...>", "move only these cookbooks (to the newest versions that fit); the others keep their locked versions and digests")
    .option("--repo <dir>", "repository (default: the nearest one)")
    .action(async (options: { update?: string[]; repo?: string }) => {
      const root = await repositoryRoot(options.repo);
      const { lockRepository } = await import("../run/lock.js");
      const { ValidationError, formatProblem } = await import("../core/errors.js");
      try {
        const { lock, file } = await lockRepository(root, options.update);
        const runLists = new Set(Object.values(lock.environments).flatMap((lists) => Object.keys(lists)));
        const cookbooks = Object.entries(lock.cookbooks);
        output.stdout(`Locked ${cookbooks.length} cookbook${cookbooks.length === 1 ? "" : "s"} for ${runLists.size} run list${runLists.size === 1 ? "" : "s"} in ${Object.keys(lock.environments).length} environments: ${file}\n`);
        for (const [key, locked] of cookbooks) output.stdout(`  ${key} ${locked.digest.slice(0, 19)} (${Object.keys(locked.files).length} files, ${locked.source})\n`);
        exit(0);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        output.stderr(`${error.message.split("\n")[0]}\n`);
        for (const problem of error.problems) output.stderr(`  ${formatProblem(problem)}\n`);
        exit(1);
      }
    });

  program
    .command("test")
    .argument("[cookbook]", "only this cookbook (default: every cookbook of the repository)")
    .description("Run cookbook tests: test/*.test.ts in memory (no machine touched), or with --machine converge a disposable machine twice and run verify/*.ts")
    .option("--machine", "boot a disposable systemd machine, converge the cookbook's run list twice (the second must change nothing), run verify/*.ts, destroy it")
    .option("--keep", "with --machine: leave the machine running for a look (sous machine list, ssh, down)")
    .option("--repo <dir>", "repository (default: the nearest one)")
    .action(async (name: string | undefined, options: { machine?: boolean; keep?: boolean; repo?: string }) => {
      const root = await repositoryRoot(options.repo);
      const { testCommand } = await import("../run/authoring.js");
      exit(await testCommand({ repo: root, ...(name ? { cookbook: name } : {}), machine: options.machine === true, keep: options.keep === true }, output));
    });

  const machine = program.command("machine").description("Disposable Debian machines on this one (systemd, sshd, an address each), for demos, push and sous test --machine; needs root");
  machine
    .command("up")
    .argument("[names...]", "their names (default machine-1, machine-2...)")
    .option("-n, --count <n>", "how many, when no names are given (default 1)")
    .description("Boot machines, kept until sous machine down")
    .action(async (names: string[], options: { count?: string }) => exit(await (await import("./machine.js")).machineUp(names, options, output)));
  machine
    .command("list")
    .option("--json", "as JSON, with each machine's SSH key, known_hosts and inventory")
    .description("The machines that are up, with their targets")
    .action(async (options: { json?: boolean }) => exit(await (await import("./machine.js")).machineList(options, output)));
  machine
    .command("ssh")
    .argument("<name>", "the machine")
    .argument("[command...]", "a command to run instead of a shell")
    .description("SSH into a machine as root (options after the name belong to the command: sous machine ssh web1 ls -l /etc)")
    .allowUnknownOption()
    .action(async (name: string, command: string[]) => exit(await (await import("./machine.js")).machineSsh(name, command, output)));
  machine
    .command("down")
    .argument("[names...]", "only these machines (default: all)")
    .description("Stop machines and remove everything they used")
    .action(async (names: string[]) => exit(await (await import("./machine.js")).machineDown(names, output)));
}
