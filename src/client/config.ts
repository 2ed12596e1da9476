// Where the CLI finds its server, organization, client name and key: flags, then SOUS_*
// environment variables, then the `server` section of the repository's sous.config.ts, then
// ~/.sous/config.json (SOUS_HOME moves ~/.sous).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { SousError } from "../core/errors.js";
import { findRepositoryRoot } from "../cookbook/root.js";
import { didYouMean } from "../core/suggest.js";

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
    throw new SousError("bad_config", `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Writes ~/.sous/config.json (mode 0600). */
export function writeConfigFile(config: ClientConfig, env: NodeJS.ProcessEnv = process.env): string {
  const file = configFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

const SETTINGS = ["server_url", "org", "client", "key"] as const;

/** Where `resolveConfig` looks besides the flags. */
export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** The folder the command runs in: inside a repository, its sous.config.ts counts. Default: the process's. */
  cwd?: string;
}

/** Where each resolved setting came from: a flag, a variable, or a file's path. */
export type ConfigSources = { [setting in keyof ClientConfig]?: string };

/** Flags beat environment variables, which beat the repository's sous.config.ts, which beats ~/.sous/config.json. */
export async function resolveConfig(flags: ClientConfig, options: ResolveOptions = {}): Promise<ClientConfig> {
  return (await resolveConfigSources(flags, options)).config;
}

/** `resolveConfig`, and where each setting came from (for error messages that say what to fix). */
export async function resolveConfigSources(flags: ClientConfig, options: ResolveOptions = {}): Promise<{ config: ClientConfig; sources: ConfigSources }> {
  const env = options.env ?? process.env;
  // sous.config.ts is compiled only when flags and variables leave a setting open.
  const settled = SETTINGS.every((setting) => flags[setting] || environmentConfig(env)[setting]);
  const repository = settled ? undefined : await readRepositoryServerConfig(options.cwd ?? process.cwd());
  return layerConfig(flags, env, repository);
}

function environmentConfig(env: NodeJS.ProcessEnv): ClientConfig {
  return { server_url: env.SOUS_SERVER_URL, org: env.SOUS_ORG, client: env.SOUS_CLIENT, key: env.SOUS_KEY };
}

/**
 * The settings from flags, then SOUS_* variables, then the repository's `server` section (when
 * given: whoever already loaded sous.config.ts, such as a run, passes it), then
 * ~/.sous/config.json, with where each came from. Synchronous: the file is read only when the
 * layers above leave a setting open.
 */
export function layerConfig(flags: ClientConfig, env: NodeJS.ProcessEnv, repository?: { settings: ClientConfig; file?: string }): { config: ClientConfig; sources: ConfigSources } {
  const layers: Array<{ values: ClientConfig; source: (setting: keyof ClientConfig) => string }> = [
    { values: flags, source: (setting) => `--${setting.replace("_", "-")}` },
    { values: environmentConfig(env), source: (setting) => (setting === "server_url" ? "SOUS_SERVER_URL" : `SOUS_${setting.toUpperCase()}`) },
  ];
  const settled = (): boolean => SETTINGS.every((setting) => layers.some((layer) => layer.values[setting]));
  if (repository) layers.push({ values: repository.settings, source: () => repository.file ?? "sous.config.ts" });
  if (!settled()) layers.push({ values: readConfigFile(env), source: () => configFile(env) });
  const config: ClientConfig = {};
  const sources: ConfigSources = {};
  for (const setting of SETTINGS) {
    const layer = layers.find((candidate) => candidate.values[setting]);
    if (!layer) continue;
    config[setting] = layer.values[setting];
    sources[setting] = layer.source(setting);
  }
  return { config, sources };
}

/**
 * The `server` section of the sous.config.ts of the repository holding `cwd`, as connection
 * settings (the key made absolute); empty outside a repository or without that section.
 */
export async function readRepositoryServerConfig(cwd: string): Promise<{ settings: ClientConfig; file?: string }> {
  const root = findRepositoryRoot(cwd);
  const file = root ? join(root, "sous.config.ts") : undefined;
  if (!root || !file || !existsSync(file)) return { settings: {} };
  return { settings: serverSectionConfig(await importRepositoryConfig(root, file), root, file), file };
}

/** The connection settings of a sous.config.ts default export's `server` section (the key made absolute against `root`); a wrong section throws naming `file`. */
export function serverSectionConfig(exported: unknown, root: string, file: string): ClientConfig {
  const server = typeof exported === "object" && exported !== null ? (exported as { server?: unknown }).server : undefined;
  if (server === undefined) return {};
  if (typeof server !== "object" || server === null || Array.isArray(server)) throw new SousError("bad_config", `${file}: server must be an object like { url, org, client, key }`);
  const section = server as Record<string, unknown>;
  const known = ["url", "org", "client", "key"];
  const config: ClientConfig = {};
  for (const [name, value] of Object.entries(section)) {
    if (!known.includes(name)) throw new SousError("bad_config", `${file}: server.${name} is not a setting${didYouMean(name, known)}; the server section has ${known.join(", ")}`);
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "") throw new SousError("bad_config", `${file}: server.${name} must be a non-empty string, not ${JSON.stringify(value)}`);
  }
  if (section.url) config.server_url = section.url as string;
  if (section.org) config.org = section.org as string;
  if (section.client) config.client = section.client as string;
  if (section.key) {
    const key = section.key as string;
    config.key = key === "~" || key.startsWith("~/") ? join(homedir(), key.slice(1)) : resolve(root, key);
  }
  return config;
}

/** Evaluates sous.config.ts (compiled once, then from .sous/cache) and returns its default export. */
async function importRepositoryConfig(root: string, file: string): Promise<unknown> {
  const { importTypeScriptFile } = await import("../cookbook/compile-file.js");
  return importTypeScriptFile(root, file, { prefix: "server-config-", errorCode: "bad_config" });
}
