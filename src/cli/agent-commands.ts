/** `sous agent` (runs on a node) and `sous bootstrap` (run from a workstation). */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { SousError, UsageError } from "../core/errors.js";
import type { Output } from "./converge.js";

interface AgentFlags {
  config?: string;
  once?: boolean;
  now?: boolean;
  lockTimeout?: string;
  interval?: string;
  splay?: string;
  runTimeout?: string;
  json?: boolean;
  runId?: string;
  runRequest?: string;
}

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new UsageError(`${flag} must be a number of seconds (0 or more), got ${JSON.stringify(value)}`);
  return number;
}

/** Turns API errors into the CLI's errors (exit code 1, the message as is). */
function asSousError(error: unknown): unknown {
  // By name: the API client is not loaded by commands that never use it.
  if (error instanceof Error && error.name === "SousApiError") return new SousError((error as Error & { code: string }).code, error.message);
  return error;
}

/** Adds `agent` (with `disable`, `enable`, `register`) and `bootstrap` to the program. */
export function registerAgentCommands(program: Command, output: Output, exit: (code: number) => void): void {
  const agent = program
    .command("agent")
    .description("The pull agent: converge this node from the server every --interval seconds (or once), save it and report every run")
    .option("--config <file>", "agent configuration (default: env SOUS_AGENT_CONFIG, then /etc/sous/agent.json)")
    .option("--once", "run once and exit (exit code 1 when the run failed)")
    .option("--now", "ask the running agent to run at once (SIGUSR1); without a running agent, run once here")
    .option("--lock-timeout <seconds>", "wait this long for another run to finish (default 0: exit at once, naming its PID)")
    .option("--interval <seconds>", "seconds between runs (default: the configuration's, else 1800)")
    .option("--splay <seconds>", "largest random delay before each run (default: the configuration's, else 300)")
    .option("--run-timeout <seconds>", "kill a run that takes longer (default: the configuration's, else 3600)")
    .option("--json", "write the run's events as JSON lines")
    .addOption(new Option("--run-id <id>", "the run's id (chosen by the daemon)").hideHelp())
    .addOption(new Option("--run-request <id>", "the run-now request the run answers").hideHelp())
    .action(async (flags: AgentFlags) => {
      const { agentConfigFile, readAgentConfig } = await import("../agent/config.js");
      const config = readAgentConfig(agentConfigFile(flags.config));
      const interval = seconds("--interval", flags.interval);
      const splay = seconds("--splay", flags.splay);
      const runTimeout = seconds("--run-timeout", flags.runTimeout);
      if (interval !== undefined) config.intervalSeconds = interval;
      if (splay !== undefined) config.splaySeconds = splay;
      if (runTimeout !== undefined) config.runTimeoutSeconds = runTimeout;
      const lockTimeoutSeconds = seconds("--lock-timeout", flags.lockTimeout) ?? 0;
      if (flags.now) {
        const { signalDaemon } = await import("../agent/daemon.js");
        const pid = signalDaemon(config);
        if (pid !== undefined) {
          output.stdout(`Asked the agent (PID ${pid}) to run now\n`);
          exit(0);
          return;
        }
        output.stdout("No agent is running here: running once now\n");
      }
      if (flags.once || flags.now) {
        const { runWithTimeout } = await import("../agent/daemon.js");
        try {
          const outcome = await runWithTimeout({ config, output, lockTimeoutSeconds, ...(flags.json ? { json: true } : {}), ...(flags.runId ? { runId: flags.runId } : {}), ...(flags.runRequest ? { runRequest: flags.runRequest } : {}) });
          exit(outcome.status === "failed" ? 1 : 0);
        } catch (error) {
          throw asSousError(error);
        }
        return;
      }
      const { runDaemon } = await import("../agent/daemon.js");
      exit(await runDaemon({ config, output, lockTimeoutSeconds }));
    });

  agent
    .command("disable")
    .argument("[reason...]", "why (shown by every skipped run)")
    .option("--config <file>", "agent configuration")
    .description("Skip runs until `sous agent enable` (a run in progress finishes)")
    .action(async (reason: string[], flags: { config?: string }) => {
      const { agentConfigFile, readAgentConfig } = await import("../agent/config.js");
      const { disableAgent } = await import("../agent/run.js");
      const config = readAgentConfig(agentConfigFile(flags.config ?? agent.opts<AgentFlags>().config));
      const state = disableAgent(config, reason.join(" ") || "no reason given");
      output.stdout(`Agent disabled: ${state.reason}\n`);
      exit(0);
    });

  agent
    .command("enable")
    .option("--config <file>", "agent configuration")
    .description("Run again after `sous agent disable`")
    .action(async (flags: { config?: string }) => {
      const { agentConfigFile, readAgentConfig } = await import("../agent/config.js");
      const { enableAgent } = await import("../agent/run.js");
      const config = readAgentConfig(agentConfigFile(flags.config ?? agent.opts<AgentFlags>().config));
      output.stdout(enableAgent(config) ? "Agent enabled\n" : "Agent was not disabled\n");
      exit(0);
    });

  agent
    .command("register")
    .option("--config <file>", "agent configuration")
    .option("--token-stdin", "read a one-time bootstrap token from standard input")
    .option("--validator-key <file>", "register with the organization's validator key instead (deleted afterwards)")
    .description("Make this node's key pair here (the private key never leaves it) and register its public key with the server")
    .action(async (flags: { config?: string; tokenStdin?: boolean; validatorKey?: string }) => {
      const { agentConfigFile, readAgentConfig } = await import("../agent/config.js");
      const { registerNode } = await import("../agent/register.js");
      const config = readAgentConfig(agentConfigFile(flags.config ?? agent.opts<AgentFlags>().config));
      if (!flags.tokenStdin === !flags.validatorKey) throw new UsageError("pass one of --token-stdin or --validator-key FILE");
      const token = flags.tokenStdin ? readFileSync(0, "utf8").trim() : undefined;
      try {
        await registerNode(config, token !== undefined ? { token } : { validatorKeyFile: flags.validatorKey! });
      } catch (error) {
        throw asSousError(error);
      }
      output.stdout(`Registered node ${config.nodeName} with ${config.serverUrl} (org ${config.org}); key in ${config.keyFile}\n`);
      exit(0);
    });
}
