/** `sous agent` (runs on a node) and `sous bootstrap` (run from a workstation). */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { UsageError } from "../core/errors.js";
import type { Output } from "./converge.js";
import type { SshCliOptions } from "./ssh-options.js";

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

/** Adds `agent` (with `disable`, `enable`, `register`) and `bootstrap` to the program. */
export function registerAgentCommands(program: Command, output: Output, exit: (code: number) => void): void {
  registerAgentCommand(program, output, exit);
  registerBootstrapCommand(program, output, exit);
}

/** Adds `sous agent` and its subcommands. */
function registerAgentCommand(program: Command, output: Output, exit: (code: number) => void): void {
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
      const { agentConfig, askAgentToRunNow, runAgentDaemon, runAgentOnceNow } = await import("../run/agent.js");
      const interval = seconds("--interval", flags.interval);
      const splay = seconds("--splay", flags.splay);
      const runTimeout = seconds("--run-timeout", flags.runTimeout);
      const config = await agentConfig(flags.config, { ...(interval !== undefined ? { intervalSeconds: interval } : {}), ...(splay !== undefined ? { splaySeconds: splay } : {}), ...(runTimeout !== undefined ? { runTimeoutSeconds: runTimeout } : {}) });
      const lockTimeoutSeconds = seconds("--lock-timeout", flags.lockTimeout) ?? 0;
      if (flags.now) {
        const pid = await askAgentToRunNow(config);
        if (pid !== undefined) {
          output.stdout(`Asked the agent (PID ${pid}) to run now\n`);
          exit(0);
          return;
        }
        output.stdout("No agent is running here: running once now\n");
      }
      if (flags.once || flags.now) {
        exit(await runAgentOnceNow({ config, output, lockTimeoutSeconds, ...(flags.json ? { json: true } : {}), ...(flags.runId ? { runId: flags.runId } : {}), ...(flags.runRequest ? { runRequest: flags.runRequest } : {}) }));
        return;
      }
      exit(await runAgentDaemon({ config, output, lockTimeoutSeconds }));
    });

  agent
    .command("disable")
    .argument("[reason...]", "why (shown by every skipped run)")
    .option("--config <file>", "agent configuration")
    .description("Skip runs until `sous agent enable` (a run in progress finishes)")
    .action(async (reason: string[], flags: { config?: string }) => {
      const { disableAgentRuns } = await import("../run/agent.js");
      const state = await disableAgentRuns(flags.config ?? agent.opts<AgentFlags>().config, reason.join(" ") || "no reason given");
      output.stdout(`Agent disabled: ${state.reason}\n`);
      exit(0);
    });

  agent
    .command("enable")
    .option("--config <file>", "agent configuration")
    .description("Run again after `sous agent disable`")
    .action(async (flags: { config?: string }) => {
      const { enableAgentRuns } = await import("../run/agent.js");
      output.stdout((await enableAgentRuns(flags.config ?? agent.opts<AgentFlags>().config)) ? "Agent enabled\n" : "Agent was not disabled\n");
      exit(0);
    });

  agent
    .command("register")
    .option("--config <file>", "agent configuration")
    .option("--token-stdin", "read a one-time bootstrap token from standard input")
    .option("--validator-key <file>", "register with the organization's validator key instead (deleted afterwards)")
    .description("Make this node's key pair here (the private key never leaves it) and register its public key with the server")
    .action(async (flags: { config?: string; tokenStdin?: boolean; validatorKey?: string }) => {
      const { agentConfig, registerThisNode } = await import("../run/agent.js");
      const config = await agentConfig(flags.config ?? agent.opts<AgentFlags>().config);
      if (!flags.tokenStdin === !flags.validatorKey) throw new UsageError("pass one of --token-stdin or --validator-key FILE");
      const token = flags.tokenStdin ? readFileSync(0, "utf8").trim() : undefined;
      await registerThisNode(config, token !== undefined ? { token } : { validatorKeyFile: flags.validatorKey! });
      output.stdout(`Registered node ${config.nodeName} with ${config.serverUrl} (org ${config.org}); key in ${config.keyFile}\n`);
      exit(0);
    });
}

/** bootstrap's flags: its own, and the SSH flags every command that reaches targets shares. */
interface BootstrapFlags extends Pick<SshCliOptions, "inventory" | "concurrency" | "identity" | "knownHosts" | "acceptNewHostKeys" | "sudo" | "connectTimeout"> {
  runList?: string;
  environment?: string;
  nodeName?: string;
  jsonAttributes?: string;
  force?: boolean;
  validatorKey?: string;
  trustedCert?: string;
  nodeServerUrl?: string;
  interval?: string;
  splay?: string;
  serverUrl?: string;
  org?: string;
  client?: string;
  key?: string;
}

/** Adds `sous bootstrap`. */
export function registerBootstrapCommand(program: Command, output: Output, exit: (code: number) => void): void {
  program
    .command("bootstrap")
    .argument("[targets...]", "hosts to bootstrap: [user@]host[:port] or ssh://user@host[:port]")
    .description("Make bare hosts nodes of the server over SSH: copy the agent, register each node (its key made on the node), create it with its run list, converge once, start the agent's service")
    .option("-r, --run-list <items>", "the nodes' run list, comma-separated: 'role[web],recipe[base]'")
    .option("-E, --environment <name>", "the nodes' environment (default _default)")
    .option("-N, --node-name <name>", "node name (one host only; default: each host's FQDN)")
    .option("-j, --json-attributes <file>", "JSON file of normal attributes for the nodes (may hold run_list)")
    .option("--force", "bootstrap hosts that already are nodes again, with a new key")
    .option("--validator-key <file>", "register with the organization's validator key (Chef's older way) instead of a one-time token; the key is deleted from the node afterwards")
    .option("--trusted-cert <file>", "the server's certificate (PEM) for the nodes to trust, for an HTTPS server with a self-signed or private-CA certificate")
    .option("--node-server-url <url>", "the server URL as the nodes reach it (default: --server-url)")
    .option("--interval <seconds>", "seconds between the agents' runs (default 1800)")
    .option("--splay <seconds>", "largest random delay before each run (default 300)")
    .option("--server-url <url>", "Sous server URL (env SOUS_SERVER_URL, sous.config.ts server.url, ~/.sous/config.json)")
    .option("--org <name>", "organization (env SOUS_ORG)")
    .option("--client <name>", "administrator client that signs (env SOUS_CLIENT)")
    .option("--key <file>", "the administrator's private key (env SOUS_KEY)")
    .option("-i, --inventory <file>", "file of targets, one per line")
    .option("-c, --concurrency <n>", "how many hosts at once (default 50)")
    .option("-k, --identity <file>", "SSH private key (default: the SSH agent, then ~/.ssh/id_*)")
    .option("--known-hosts <file>", "known_hosts file to check host keys against (default: ~/.ssh/known_hosts)")
    .option("--accept-new-host-keys", "record keys of hosts not yet known (a changed key is always refused)")
    .option("--sudo", "run everything through sudo (for a non-root SSH user)")
    .option("--connect-timeout <seconds>", "give up connecting to a host after this long (default 15)")
    .action(async (args: string[], flags: BootstrapFlags) => {
      const { bootstrapNodes } = await import("../run/agent.js");
      const { sshOptions, targetsOf, positiveNumber } = await import("./ssh-options.js");
      const targets = targetsOf(args.map((arg) => (arg.startsWith("ssh://") ? arg : `ssh://${arg}`)), flags);
      let normal: Record<string, unknown> = {};
      let runList = flags.runList ? flags.runList.split(",").map((item) => item.trim()).filter(Boolean) : [];
      if (flags.jsonAttributes) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(readFileSync(flags.jsonAttributes, "utf8"));
        } catch (error) {
          throw new UsageError(`--json-attributes ${flags.jsonAttributes}: ${(error as Error).message}`);
        }
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`--json-attributes ${flags.jsonAttributes}: expected a JSON object`);
        const { run_list: fileRunList, ...attributes } = parsed as Record<string, unknown>;
        if (fileRunList !== undefined && (!Array.isArray(fileRunList) || !fileRunList.every((item) => typeof item === "string"))) throw new UsageError(`--json-attributes ${flags.jsonAttributes}: run_list must be an array of strings`);
        if (runList.length === 0 && fileRunList) runList = fileRunList as string[];
        normal = attributes;
      }
      const interval = seconds("--interval", flags.interval);
      const splay = seconds("--splay", flags.splay);
      const concurrency = positiveNumber("--concurrency", flags.concurrency);
      const outcomes = await bootstrapNodes(
        {
          targets,
          ssh: sshOptions(flags),
          ...(concurrency ? { concurrency } : {}),
          server: { ...(flags.serverUrl ? { serverUrl: flags.serverUrl } : {}), ...(flags.org ? { org: flags.org } : {}), ...(flags.client ? { client: flags.client } : {}), ...(flags.key ? { key: flags.key } : {}) },
          ...(flags.nodeServerUrl ? { nodeServerUrl: flags.nodeServerUrl } : {}),
          runList,
          ...(flags.environment ? { environment: flags.environment } : {}),
          ...(flags.nodeName ? { nodeName: flags.nodeName } : {}),
          normal,
          force: flags.force === true,
          ...(flags.validatorKey ? { validatorKeyFile: flags.validatorKey } : {}),
          ...(flags.trustedCert ? { trustedCertificateFile: flags.trustedCert } : {}),
          ...(interval !== undefined ? { interval } : {}),
          ...(splay !== undefined ? { splay } : {}),
        },
        {
          building: () => output.stdout("Building the agent bundle (node binary and sous; kept for the next bootstrap)...\n"),
          starting: (hosts, serverUrl, org) => output.stdout(`Bootstrapping ${hosts} host${hosts === 1 ? "" : "s"} into ${serverUrl} (org ${org})\n`),
          line: (host, line) => output.stdout(`${host}: ${line}\n`),
        },
      );
      output.stdout("\nResults:\n");
      const width = Math.max(...outcomes.map((outcome) => outcome.host.length));
      for (const outcome of outcomes) output.stdout(`  ${outcome.host.padEnd(width)}  ${outcome.ok ? outcome.value!.detail : `FAILED: ${outcome.error}`}\n`);
      const failed = outcomes.filter((outcome) => !outcome.ok || (outcome.value?.firstRun ?? 0) !== 0).length;
      const already = outcomes.filter((outcome) => outcome.value?.outcome === "already").length;
      output.stdout(`${outcomes.length - failed - already} bootstrapped, ${already} already bootstrapped, ${failed} failed\n`);
      exit(failed > 0 ? 1 : 0);
    });
}
