// What every server command shares: the connection flags and the client they make, the
// action wrapper that turns failures into one-line errors naming the settings to check, and
// the writers and printer that honour `--format`.
import { resolve } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { SousApiError, SousClient } from "../client/api.js";
import type { ClientConfig, ConfigSources } from "../client/config.js";
import { resolveConfigSources } from "../client/config.js";
import { SousError } from "../core/errors.js";

/** A JSON object as the API sends and takes it. */
export type Json = Record<string, unknown>;

/** The connection flags of `connectionOptions`, as commander parses them. */
export interface ConnectionFlags {
  serverUrl?: string;
  org?: string;
  client?: string;
  key?: string;
  format?: "text" | "json" | "chef";
}

/** Where the CLI writes: the program's configured output, so `main(argv, output)` captures it. */
export function writers(program: Command): { out: (text: string) => void; err: (text: string) => void } {
  const config = program.configureOutput();
  return {
    out: (text) => (config.writeOut ? config.writeOut(text) : process.stdout.write(text)),
    err: (text) => (config.writeErr ? config.writeErr(text) : process.stderr.write(text)),
  };
}

/** The program a command belongs to. */
export function rootOf(command: Command): Command {
  let current = command;
  while (current.parent) current = current.parent;
  return current;
}

/** The connection settings a command used and where each came from, so that its errors can say what to fix. */
const connections = new WeakMap<Command, { config: ClientConfig; sources: ConfigSources }>();

/** Remembers the settings a command connects with (and where each came from) for its error messages. */
export function rememberConnection(command: Command, config: ClientConfig, sources: ConfigSources): void {
  connections.set(command, { config, sources });
}

/** What to check after an API error: the settings involved and where they came from. */
function connectionHint(error: SousApiError, command: Command | undefined): string {
  const used = command ? connections.get(command) : undefined;
  if (!used) return error.status === 401 ? " (check --client and --key, or SOUS_CLIENT and SOUS_KEY, and this machine's clock)" : "";
  const { config, sources } = used;
  if (error.status === 401) return ` (signed as client '${config.client}' from ${sources.client} with the key ${config.key ?? "(none)"} from ${sources.key ?? "nowhere"}; check them, and this machine's clock)`;
  if (error.code === "unreachable") return ` (the URL comes from ${sources.server_url})`;
  if (error.code === "key_unreadable" || error.code === "key_invalid" || error.code === "no_key") return ` (the key setting comes from ${sources.key ?? "nowhere: pass --key"})`;
  return "";
}

/** Turns any failure into a SousError, which main() prints as one line and exit code 1. */
export function failure(error: unknown, command?: Command): SousError {
  if (error instanceof SousError) return error;
  if (error instanceof SousApiError) return new SousError(error.code, `${error.message}${connectionHint(error, command)}`);
  return new SousError("failed", (error as Error).message ?? String(error));
}

/** Adds the connection flags every server command accepts (`formats`: the output formats it offers). */
export function connectionOptions(command: Command, formats: readonly string[] = ["text", "json"]): Command {
  return command
    .option("--server-url <url>", "Sous server URL (env SOUS_SERVER_URL, sous.config.ts server.url, ~/.sous/config.json)")
    .option("--org <name>", "organization (env SOUS_ORG)")
    .option("--client <name>", "client name that signs requests (env SOUS_CLIENT)")
    .option("--key <file>", "the client's private key (env SOUS_KEY)")
    .addOption(new Option("--format <format>", "output format").choices(formats).default("text"));
}

/** The connection settings (flags, then SOUS_* variables, then the repository's sous.config.ts, then ~/.sous/config.json), remembered for the command's error messages. */
export async function connectionConfig(command: Command, overrides: ConnectionFlags = {}): Promise<ClientConfig> {
  const flags = { ...flagsOf(command), ...overrides };
  const resolved = await resolveConfigSources({
    ...(flags.serverUrl ? { server_url: flags.serverUrl } : {}),
    ...(flags.org ? { org: flags.org } : {}),
    ...(flags.client ? { client: flags.client } : {}),
    ...(flags.key ? { key: flags.key } : {}),
  });
  rememberConnection(command, resolved.config, resolved.sources);
  return resolved.config;
}

/** A client for the command's server, organization and identity. */
export async function clientFor(command: Command, overrides: ConnectionFlags = {}): Promise<SousClient> {
  const config = await connectionConfig(command, overrides);
  if (!config.server_url) throw new SousError("no_server", "no server configured: pass --server-url, set SOUS_SERVER_URL or server.url in the repository's sous.config.ts, or run `sous org create` to write ~/.sous/config.json");
  if (!config.client) throw new SousError("no_client", "no client name configured: pass --client, set SOUS_CLIENT or server.client in the repository's sous.config.ts");
  return new SousClient({ serverUrl: config.server_url, client: config.client, ...(config.org ? { org: config.org } : {}), ...(config.key ? { privateKeyFile: config.key } : {}) });
}

/** The options object commander passes last to an action (its own flags merged with its parents'). */
export function flagsOf(command: Command): ConnectionFlags & Json {
  return command.optsWithGlobals() as ConnectionFlags & Json;
}

/** Wraps a command's action: commander's arguments in, any failure out as a one-line SousError naming the settings to check. */
export function action(fn: (command: Command, ...args: any[]) => Promise<void>) {
  return async function (this: Command, ...args: unknown[]): Promise<void> {
    // Commander passes (args..., options, command); the command is the last argument.
    const command = args[args.length - 1] as Command;
    try {
      await fn(command, ...args.slice(0, -2));
    } catch (error) {
      throw failure(error, command);
    }
  };
}

/** Prints a value as JSON (`--format json`) or as the text `text` renders. */
export function print(command: Command, value: unknown, text: () => string, format = flagsOf(command).format): void {
  const { out } = writers(rootOf(command));
  if (format === "json") out(`${JSON.stringify(value, null, 2)}\n`);
  else {
    const rendered = text();
    out(rendered.endsWith("\n") || rendered === "" ? rendered : `${rendered}\n`);
  }
}


/** An object, or undefined when the server answers 404. */
export async function tryGet(client: SousClient, path: string): Promise<Json | undefined> {
  try {
    return await client.get<Json>(path);
  } catch (error) {
    if (error instanceof SousApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** Runs the work for one file of a from-file command; a failure names the file. */
export async function inFile(command: Command, file: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    const failed = failure(error, command);
    // Parse errors already start with the file's name (file:line:column).
    throw failed.message.startsWith(file) || failed.message.startsWith(resolve(file)) ? failed : new SousError(failed.code, `${file}: ${failed.message}`);
  }
}
