/**
 * The pull agent's commands as services: run it (once, now, or as the daemon), disable and
 * enable it, register this node, and bootstrap hosts into nodes from a workstation. Each agent
 * module is imported when its command runs.
 */
import type { AgentConfig } from "../agent/config.js";
import type { AgentOutput, DisabledState } from "../agent/run.js";
import type { BootstrapResult } from "../agent/bootstrap.js";
import type { Registration } from "../agent/register.js";
import { SousError, UsageError } from "../core/errors.js";
import type { AttributeTree } from "../dsl.js";
import type { SshOptions, SshTarget } from "../host/ssh.js";
import type { HostOutcome } from "../push/fleet.js";

/** Turns API errors into the CLI's errors (exit code 1, the message as is). */
function asSousError(error: unknown): unknown {
  // By name: the API client is not loaded by commands that never use it.
  if (error instanceof Error && error.name === "SousApiError") return new SousError((error as Error & { code: string }).code, error.message);
  return error;
}

/** What a command's flags change in the agent's configuration. */
export interface AgentSchedule {
  intervalSeconds?: number;
  splaySeconds?: number;
  runTimeoutSeconds?: number;
}

/** The agent's configuration: `file` (default: env SOUS_AGENT_CONFIG, then /etc/sous/agent.json), with the schedule's overrides. */
export async function agentConfig(file: string | undefined, schedule: AgentSchedule = {}): Promise<AgentConfig> {
  const { agentConfigFile, readAgentConfig } = await import("../agent/config.js");
  const config = readAgentConfig(agentConfigFile(file));
  if (schedule.intervalSeconds !== undefined) config.intervalSeconds = schedule.intervalSeconds;
  if (schedule.splaySeconds !== undefined) config.splaySeconds = schedule.splaySeconds;
  if (schedule.runTimeoutSeconds !== undefined) config.runTimeoutSeconds = schedule.runTimeoutSeconds;
  return config;
}

/** Asks the agent running here to run at once (SIGUSR1); its PID, or undefined when none runs. */
export async function askAgentToRunNow(config: AgentConfig): Promise<number | undefined> {
  return (await import("../agent/daemon.js")).signalDaemon(config);
}

/** How to run the agent. */
export interface AgentRunRequest {
  config: AgentConfig;
  output: AgentOutput;
  lockTimeoutSeconds: number;
  json?: boolean;
  runId?: string;
  runRequest?: string;
}

/** One run (killed after the configuration's run timeout); the exit code: 1 when it failed. */
export async function runAgentOnceNow(request: AgentRunRequest): Promise<number> {
  const { runWithTimeout } = await import("../agent/daemon.js");
  try {
    const outcome = await runWithTimeout(request);
    return outcome.status === "failed" ? 1 : 0;
  } catch (error) {
    throw asSousError(error);
  }
}

/** Runs the agent every interval until SIGTERM or SIGINT; the exit code. */
export async function runAgentDaemon(request: Pick<AgentRunRequest, "config" | "output" | "lockTimeoutSeconds">): Promise<number> {
  return (await import("../agent/daemon.js")).runDaemon(request);
}

/** Disables the agent's runs until {@link enableAgentRuns}. */
export async function disableAgentRuns(file: string | undefined, reason: string): Promise<DisabledState> {
  const { disableAgent } = await import("../agent/run.js");
  return disableAgent(await agentConfig(file), reason);
}

/** Enables the agent's runs again; false when they were not disabled. */
export async function enableAgentRuns(file: string | undefined): Promise<boolean> {
  const { enableAgent } = await import("../agent/run.js");
  return enableAgent(await agentConfig(file));
}

/** Makes this node's key pair here and registers its public key with the server. */
export async function registerThisNode(config: AgentConfig, how: Registration): Promise<void> {
  const { registerNode } = await import("../agent/register.js");
  try {
    await registerNode(config, how);
  } catch (error) {
    throw asSousError(error);
  }
}

/** What `sous bootstrap` makes of its flags. */
export interface BootstrapRequest {
  targets: readonly SshTarget[];
  ssh: SshOptions;
  concurrency?: number;
  /** The administrator's connection (flags; the rest from env and configuration files). */
  server: { serverUrl?: string; org?: string; client?: string; key?: string };
  nodeServerUrl?: string;
  runList: readonly string[];
  environment?: string;
  nodeName?: string;
  normal: Record<string, unknown>;
  force: boolean;
  validatorKeyFile?: string;
  trustedCertificateFile?: string;
  interval?: number;
  splay?: number;
}

/** What bootstrap tells as it goes. */
export interface BootstrapProgress {
  /** The agent bundle is being built (kept for the next bootstrap). */
  building: () => void;
  /** The hosts are being bootstrapped into this server and organization. */
  starting: (hosts: number, serverUrl: string, org: string) => void;
  /** A line of a host's progress or of its first run's output. */
  line: (host: string, line: string) => void;
}

/** Makes bare hosts nodes of the server over SSH; each host's outcome. */
export async function bootstrapNodes(request: BootstrapRequest, progress: BootstrapProgress): Promise<HostOutcome<BootstrapResult>[]> {
  const { resolveConfig, sousHome } = await import("../client/config.js");
  const { SousClient } = await import("../client/api.js");
  const { buildAgentBundle } = await import("../agent/bundle.js");
  const { bootstrapHosts } = await import("../agent/bootstrap.js");
  const { join } = await import("node:path");
  const { serverUrl, org, client, key } = request.server;
  const config = await resolveConfig({ ...(serverUrl ? { server_url: serverUrl } : {}), ...(org ? { org } : {}), ...(client ? { client } : {}), ...(key ? { key } : {}) });
  if (!config.server_url || !config.org || !config.client || !config.key) throw new UsageError("bootstrap needs the server, organization and an administrator's client and key: pass --server-url, --org, --client and --key (or configure them: see sous org create)");
  const admin = new SousClient({ serverUrl: config.server_url, org: config.org, client: config.client, privateKeyFile: config.key });
  progress.building();
  const bundle = await buildAgentBundle(process.env.SOUS_AGENT_BUNDLE_CACHE ?? join(sousHome(), "agent-bundle"));
  progress.starting(request.targets.length, config.server_url, config.org);
  const { server: _server, normal, ...options } = request;
  try {
    return await bootstrapHosts({ ...options, admin, org: config.org, normal: normal as AttributeTree, bundle, onLine: progress.line });
  } catch (error) {
    throw asSousError(error);
  }
}
