// Where the CLI finds its server, organization, client name and key: flags, then SOUS_*
// environment variables, then the `server` section of the repository's sous.config.ts, then
// ~/.sous/config.json (SOUS_HOME moves ~/.sous).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SousError } from "../core/errors.js";
import { findRepositoryRoot } from "../cookbook/repository.js";

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
    if (!known.includes(name)) throw new SousError("bad_config", `${file}: server.${name} is not a setting; the server section has ${known.join(", ")}`);
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

/** A file's size and modification time as one string, or undefined when it is gone: what says the cache is stale. */
function fileVersion(path: string): string | undefined {
  try {
    const info = statSync(path);
    return `${info.size}:${info.mtimeMs}`;
  } catch {
    return undefined;
  }
}

const here = fileURLToPath(import.meta.url);
/** This installation's entry module, bundled for `import { config } from "sous"` (only what the file uses is kept). */
const sousEntry = resolve(here, "..", "..", here.endsWith(".ts") ? "index.ts" : "index.js");
const CONFIG_MODULE_PREFIX = "server-config-";

/**
 * Evaluates sous.config.ts and returns its default export. The compiled module is kept in
 * .sous/cache with the sizes and times of every file it was built from, so a later command
 * imports it without starting esbuild; the file itself is evaluated every time (it may read
 * the environment).
 */
async function importRepositoryConfig(root: string, file: string): Promise<unknown> {
  const cacheDir = join(root, ".sous", "cache");
  const manifestFile = join(cacheDir, `${CONFIG_MODULE_PREFIX}manifest.json`);
  let moduleUrl: string | undefined;
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as { inputs: Record<string, string>; module: string };
    const fresh = Object.entries(manifest.inputs).every(([path, version]) => fileVersion(path) === version);
    if (fresh && existsSync(join(cacheDir, manifest.module))) moduleUrl = pathToFileURL(join(cacheDir, manifest.module)).href;
  } catch {
    // No usable cache entry: compile below.
  }
  moduleUrl ??= await compileRepositoryConfig(root, file, cacheDir, manifestFile);
  try {
    return ((await import(moduleUrl)) as { default?: unknown }).default;
  } catch (error) {
    throw new SousError("bad_config", `${file} failed while loading: ${(error as Error)?.message ?? String(error)}`);
  }
}

async function compileRepositoryConfig(root: string, file: string, cacheDir: string, manifestFile: string): Promise<string> {
  const esbuild = await import("esbuild");
  let result: import("esbuild").BuildResult<{ metafile: true; write: false }>;
  try {
    result = await esbuild.build({
      entryPoints: [file],
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "silent",
      plugins: [{ name: "sous-self", setup: (build: import("esbuild").PluginBuild) => build.onResolve({ filter: /^sous$/ }, () => ({ path: sousEntry })) }],
    });
  } catch (error) {
    const first = (error as { errors?: import("esbuild").Message[] }).errors?.[0];
    if (!first) throw error;
    const where = first.location ? `${resolve(root, first.location.file)}:${first.location.line}:${first.location.column + 1}` : file;
    throw new SousError("bad_config", `${where}: ${first.text}`);
  }
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((input) => [resolve(root, input), fileVersion(resolve(root, input)) ?? "gone"]));
  // Named by content: a process that imported an older version gets the new one under a new URL.
  const moduleName = `${CONFIG_MODULE_PREFIX}${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`;
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeAtomically(join(cacheDir, moduleName), code);
    writeAtomically(manifestFile, JSON.stringify({ inputs, module: moduleName }));
    for (const entry of readdirSync(cacheDir)) {
      if (entry.startsWith(CONFIG_MODULE_PREFIX) && entry.endsWith(".mjs") && entry !== moduleName) rmSync(join(cacheDir, entry), { force: true });
    }
    return pathToFileURL(join(cacheDir, moduleName)).href;
  } catch {
    // A repository we cannot write to still works, compiled every time.
    return `data:text/javascript;base64,${Buffer.from(code).toString("base64")}`;
  }
}

function writeAtomically(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, data);
  renameSync(temp, file);
}
