// Where the CLI finds its server, organization, client name and key: flags, then SOUS_*
// environment variables, then ~/.sous/config.json (SOUS_HOME moves ~/.sous).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";

/** Connection settings of the CLI. */
export interface ClientConfig {
  server_url?: string;
  org?: string;
  client?: string;
  /** Path of the client's private key. */
  key?: string;
}

/** The directory of the CLI's configuration and keys: $SOUS_HOME or ~/.sous. */
export function sousHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SOUS_HOME ? resolve(env.SOUS_HOME) : join(homedir(), ".sous");
}

/** Path of the configuration file. */
export function configFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(sousHome(env), "config.json");
}

/** Reads ~/.sous/config.json, or an empty configuration when there is none. */
export function readConfigFile(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const file = configFile(env);
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as ClientConfig;
    // A relative key path is relative to the configuration file.
    if (parsed.key && !isAbsolute(parsed.key)) parsed.key = join(dirname(file), parsed.key);
    return parsed;
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Writes ~/.sous/config.json (mode 0600). */
export function writeConfigFile(config: ClientConfig, env: NodeJS.ProcessEnv = process.env): string {
  const file = configFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Flags beat environment variables, which beat the configuration file. */
export function resolveConfig(flags: ClientConfig, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const file = readConfigFile(env);
  const pick = (flag: string | undefined, variable: string | undefined, stored: string | undefined): string | undefined => flag ?? variable ?? stored;
  const config: ClientConfig = {};
  const server = pick(flags.server_url, env.SOUS_SERVER_URL, file.server_url);
  const org = pick(flags.org, env.SOUS_ORG, file.org);
  const client = pick(flags.client, env.SOUS_CLIENT, file.client);
  const key = pick(flags.key, env.SOUS_KEY, file.key);
  if (server) config.server_url = server;
  if (org) config.org = org;
  if (client) config.client = client;
  if (key) config.key = key;
  return config;
}
