/**
 * The agent's configuration (written by `sous bootstrap`, read by `sous agent`) and the
 * places of its state: key, cookbook cache, report queue, lock, pid file.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { SousError } from "../core/errors.js";

/** Where the agent's configuration lives unless --config or SOUS_AGENT_CONFIG say otherwise. */
export const DEFAULT_AGENT_CONFIG = "/etc/sous/agent.json";

/** The agent's configuration file, as stored. */
export interface AgentConfigFile {
  server_url: string;
  org: string;
  node_name: string;
  /** The node's private key (0600, made on the node). Default /etc/sous/client.pem. */
  client_key?: string;
  /** PEM of the certificate(s) the agent trusts for the server (a self-signed server's own). */
  trusted_certificate?: string;
  /** The environment the node was bootstrapped into: a cached run in another one is refused. */
  environment?: string;
  /** Where the cache, queue and lock live. Default /var/lib/sous. */
  state_dir?: string;
  /** Seconds between runs. Default 1800. */
  interval?: number;
  /** Largest random delay before each run, in seconds. Default 300. */
  splay?: number;
  /** Seconds after which a run is killed. Default 3600. */
  run_timeout?: number;
}

/** The configuration with every default filled in and every path absolute. */
export interface AgentConfig {
  file: string;
  serverUrl: string;
  org: string;
  nodeName: string;
  keyFile: string;
  trustedCertificate?: string;
  environment?: string;
  intervalSeconds: number;
  splaySeconds: number;
  runTimeoutSeconds: number;
  paths: AgentPaths;
}

/** The agent's state on disk. */
export interface AgentPaths {
  stateDir: string;
  /** Cookbook files by SHA-256, the materialized repository and the last good run (0700). */
  cacheDir: string;
  /** Reports not yet acknowledged by the server, oldest first (0700). */
  queueDir: string;
  /** The run lock (flock). */
  lockFile: string;
  /** The daemon's PID, for `sous agent --now`. */
  pidFile: string;
  /** Present while the agent is disabled; holds the reason. */
  disabledFile: string;
  /** The engine's report of the last run. */
  lastRunFile: string;
}

/** The paths under a state directory. */
export function agentPaths(stateDir: string): AgentPaths {
  return {
    stateDir,
    cacheDir: join(stateDir, "cache"),
    queueDir: join(stateDir, "queue"),
    lockFile: join(stateDir, "run.lock"),
    pidFile: join(stateDir, "agent.pid"),
    disabledFile: join(stateDir, "disabled.json"),
    lastRunFile: join(stateDir, "last-run.json"),
  };
}

/** Which configuration file: the flag, then SOUS_AGENT_CONFIG, then /etc/sous/agent.json. */
export function agentConfigFile(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.SOUS_AGENT_CONFIG ?? DEFAULT_AGENT_CONFIG;
}

function positive(file: string, field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new SousError("bad_agent_config", `${file}: ${field} must be a number of seconds (0 or more), not ${JSON.stringify(value)}`);
  return value;
}

/** Reads and checks the agent's configuration; the error names the file and the field. */
export function readAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SousError("no_agent_config", code === "ENOENT" ? `${file} does not exist: this machine has not been bootstrapped (run sous bootstrap HOST from a workstation), or pass --config FILE` : `cannot read ${file}: ${code}`);
  }
  let raw: AgentConfigFile;
  try {
    raw = JSON.parse(text) as AgentConfigFile;
  } catch (error) {
    throw new SousError("bad_agent_config", `${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new SousError("bad_agent_config", `${file}: expected a JSON object`);
  for (const field of ["server_url", "org", "node_name"] as const) {
    if (typeof raw[field] !== "string" || raw[field] === "") throw new SousError("bad_agent_config", `${file}: ${field} must be a non-empty string`);
  }
  const stateDir = raw.state_dir ?? "/var/lib/sous";
  if (!isAbsolute(stateDir)) throw new SousError("bad_agent_config", `${file}: state_dir must be an absolute path, not ${JSON.stringify(stateDir)}`);
  let trustedCertificate: string | undefined;
  if (raw.trusted_certificate !== undefined) {
    try {
      trustedCertificate = readFileSync(raw.trusted_certificate, "utf8");
    } catch (error) {
      throw new SousError("bad_agent_config", `${file}: trusted_certificate ${raw.trusted_certificate} cannot be read (${(error as NodeJS.ErrnoException).code})`);
    }
  }
  return {
    file,
    serverUrl: raw.server_url,
    org: raw.org,
    nodeName: raw.node_name,
    keyFile: raw.client_key ?? "/etc/sous/client.pem",
    ...(trustedCertificate ? { trustedCertificate } : {}),
    ...(raw.environment ? { environment: raw.environment } : {}),
    intervalSeconds: positive(file, "interval", raw.interval, 1800),
    splaySeconds: positive(file, "splay", raw.splay, 300),
    runTimeoutSeconds: positive(file, "run_timeout", raw.run_timeout, 3600),
    paths: agentPaths(stateDir),
  };
}
