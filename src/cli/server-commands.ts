// The commands that run or talk to a Sous server: `sous server`, and knife's object commands
// (org, node, role, environment, data-bag, client, search, cookbook upload/download/...).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { SousApiError, SousClient } from "../client/api.js";
import type { ClientConfig } from "../client/config.js";
import type { ConfigSources } from "../client/config.js";
import { readConfigFile, resolveConfigSources, sousHome, writeConfigFile } from "../client/config.js";
import { decryptItem, encryptItem, isEncryptedItem, loadSecretFile } from "../client/encrypted-data-bag.js";
import { generateKeyPair } from "../protocol/signing.js";
import { formatProblem, type Problem, SousError } from "../core/errors.js";
import { cookbookDependencies, installedPackages, readCookbookPackage, unsafePathReason } from "../protocol/manifest.js";
import { importOptional } from "../core/optional.js";
import { findRepositoryRoot } from "../cookbook/repository.js";
import { chefSearchBody, collectKey, partialKeysOf, partialSearchOutput, partialSearchText } from "./search-output.js";
import type { PartialSearchBody } from "./search-output.js";
import { splitDottedPath, valueAtPath } from "../protocol/partial-search.js";
import { registerFleetCommands } from "./fleet-commands.js";

/** `~/.sous/server` (or `$SOUS_HOME/server`): the server's default data directory. */
function defaultDataDir(home: string): string {
  return join(home, "server");
}
import type { CookbookManifest } from "../protocol/manifest.js";

type Json = Record<string, unknown>;

interface ConnectionFlags {
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
function failure(error: unknown, command?: Command): SousError {
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
async function connectionConfig(command: Command, overrides: ConnectionFlags = {}): Promise<ClientConfig> {
  const flags = { ...flagsOf(command), ...overrides };
  const resolved = await resolveConfigSources({
    ...(flags.serverUrl ? { server_url: flags.serverUrl } : {}),
    ...(flags.org ? { org: flags.org } : {}),
    ...(flags.client ? { client: flags.client } : {}),
    ...(flags.key ? { key: flags.key } : {}),
  });
  connections.set(command, resolved);
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

/** The value at a dotted path (`\.` for a dot inside a key), null where it leads nowhere: the walk partial search makes. */
function getPath(value: unknown, path: string): unknown {
  return valueAtPath(value, splitDottedPath(path));
}

function scalar(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function nodeSummary(node: Json): string {
  const auto = (node.automatic ?? {}) as Json;
  const lines = [
    `Node Name:   ${String(node.name)}`,
    `Environment: ${String(node.chef_environment)}`,
    `Run List:    ${((node.run_list as string[]) ?? []).join(", ")}`,
    `Platform:    ${scalar(auto.platform ?? "")} ${scalar(auto.platform_version ?? "")}`.trimEnd(),
    `IP:          ${scalar(auto.ipaddress ?? "")}`,
  ];
  const run = node.last_run as Json | undefined;
  if (run) lines.push(`Last run:    ${scalar(run.status ?? "")} ${scalar(run.end ?? run.start ?? "")} (${scalar(run.updated_resources ?? 0)} updated)`);
  return lines.join("\n");
}

/** Loads an object from a .json, .js/.mjs or .ts file (role/environment definitions of a repository). */
async function loadObjectFile(file: string): Promise<Json> {
  const path = resolve(file);
  if (!existsSync(path)) throw new SousError("no_such_file", `${file} does not exist`);
  const ext = extname(path);
  if (ext === ".json") {
    const value = parseJsonText(readFileSync(path, "utf8"), file);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SousError("bad_file", `${file}: expected a JSON object, not ${Array.isArray(value) ? "an array" : JSON.stringify(value)}`);
    return value as Json;
  }
  if (ext === ".ts" || ext === ".js" || ext === ".mjs" || ext === ".mts") {
    const esbuild = await import("esbuild");
    // Bundle so that local imports work; `sous` itself becomes identity helpers (role(), environment()).
    const result = await esbuild.build({
      entryPoints: [path],
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      logLevel: "silent",
      plugins: [
        {
          name: "sous-shim",
          setup(build) {
            build.onResolve({ filter: /^sous(\/.*)?$/ }, () => ({ path: "sous", namespace: "sous-shim" }));
            build.onLoad({ filter: /.*/, namespace: "sous-shim" }, () => ({
              contents: "const id = (d) => d; export const role = id, environment = id, attributes = id, recipe = id, config = id, defineConfig = id;",
              loader: "js",
            }));
          },
        },
      ],
    }).catch((error: { errors?: import("esbuild").Message[] }) => {
      const first = error.errors?.[0];
      if (!first) throw error;
      // file:line:column with the file's absolute path, as every location Sous prints (esbuild's
      // is relative to the current directory).
      const where = first.location ? `${resolve(first.location.file)}:${first.location.line}:${first.location.column + 1}` : file;
      throw new SousError("bad_file", `${where}: ${first.text}`);
    });
    const code = result.outputFiles[0]!.text;
    const module = (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as { default?: unknown };
    if (typeof module.default !== "object" || module.default === null) throw new SousError("bad_file", `${file}: the default export must be an object (role({...}) or environment({...}))`);
    return { ...(module.default as Json) };
  }
  throw new SousError("bad_file", `${file}: expected a .json, .ts or .js file`);
}

/** Maps a repository's camelCase definition (roles/*.ts) onto the API's fields, naming it after the file when it has no name. */
function fromDefinition(kind: "node" | "role" | "environment", data: Json, file: string): Json {
  const renames: Record<string, string> = { runList: "run_list", envRunLists: "env_run_lists", defaultAttributes: "default_attributes", overrideAttributes: "override_attributes", cookbookVersions: "cookbook_versions", chefEnvironment: "chef_environment" };
  const out = namedDefinition(data, file, renames);
  if (kind === "environment" && out.cookbook_versions === undefined) out.cookbook_versions = {};
  return out;
}

/** Parses JSON text; an error names `where`, the line and the column, as an editor shows them. */
function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    // V8 gives a character position ("at position 18"), or none at the end of the text.
    const position = Number(/ at position (\d+)/.exec(message)?.[1] ?? text.length);
    const before = text.slice(0, position);
    const line = before.split("\n").length;
    const column = position - before.lastIndexOf("\n");
    throw new SousError("bad_json", `${where}:${line}:${column}: not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, "")}`);
  }
}

/** Opens `value` as JSON in $EDITOR; `secret`: the text holds decrypted values and never outlives the command. */
async function editInEditor(value: unknown, options: { secret?: boolean } = {}): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), "sous-edit-"));
  const file = join(dir, "object.json");
  let keep = false;
  try {
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    const editor = process.env.VISUAL || process.env.EDITOR || "vi";
    // Not spawnSync: a caller's event loop (a server in the same process, in tests) keeps running while the editor is open.
    const child = spawn("sh", ["-c", `${editor} "$1"`, "sous-edit", file], { stdio: "inherit" });
    const result = await new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolveExit, rejectExit) => {
      child.once("error", rejectExit);
      child.once("close", (status, signal) => resolveExit({ status, signal }));
    });
    if (result.status !== 0) throw new SousError("editor_failed", `the editor (${editor}) exited with ${result.status ?? result.signal}; nothing was saved`);
    try {
      return parseJsonText(readFileSync(file, "utf8"), file);
    } catch (error) {
      // The edit is not thrown away (the message says where it is), unless it holds decrypted secrets.
      keep = options.secret !== true;
      throw new SousError("bad_json", `${(error as Error).message}; nothing was saved (${keep ? `your text stays in ${file}` : "your text was deleted: it held decrypted values"})`);
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Fetches an object, lets the user edit it, and saves it only if nobody changed it meanwhile (If-Match). */
async function editObject(command: Command, client: SousClient, path: string, what: string, check: (before: Json, after: Json) => void = () => undefined): Promise<void> {
  const current = await client.request<Json>("GET", path);
  const edited = await editInEditor(current.body);
  if (JSON.stringify(edited) === JSON.stringify(current.body)) {
    print(command, { name: current.body.name ?? null, changed: false }, () => `No change to ${what}`);
    return;
  }
  if (typeof edited !== "object" || edited === null || Array.isArray(edited)) throw new SousError("bad_json", `the edited text must be a JSON object; nothing was saved`);
  check(current.body, edited as Json);
  const { body } = await client.request<Json>("PUT", path, { body: edited, ...(current.etag ? { ifMatch: current.etag } : {}) });
  print(command, body, () => `Saved ${what}`);
}

/** Refuses an edit that changed anything but `editable`, with the reason for the field when there is one. */
function onlyEditable(what: string, editable: readonly string[], reasons: Record<string, string>): (before: Json, after: Json) => void {
  return (before, after) => {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    const changed = keys.filter((key) => !editable.includes(key) && JSON.stringify(before[key]) !== JSON.stringify(after[key]));
    if (changed.length === 0) return;
    const reason = reasons[changed[0]!] ?? `only ${editable.join(" and ")} can be edited, not ${changed.join(", ")}`;
    throw new SousError("not_editable", `${what}: ${reason}; nothing was saved`);
  };
}

type CollectionKind = "node" | "role" | "environment";
const COLLECTION_PATH: Record<CollectionKind, string> = { node: "nodes", role: "roles", environment: "environments" };

function registerCollection(program: Command, kind: CollectionKind): Command {
  const path = COLLECTION_PATH[kind];
  const group = program.command(kind).description(`Manage ${kind}s on the server`);

  connectionOptions(group.command("list").description(`List ${kind}s`)).action(
    action(async (command) => {
      const client = await clientFor(command);
      const names: string[] = [];
      for (let start = 0; ; start += 1000) {
        const page = await client.get<{ total: number; names: string[] }>(`${client.orgPath(path)}?start=${start}&rows=1000`);
        names.push(...page.names);
        if (page.names.length === 0 || names.length >= page.total) break;
      }
      print(command, names, () => names.join("\n"));
    }),
  );

  connectionOptions(group.command("show").argument("<name>").description(`Show a ${kind}`).option("-a, --attribute <path...>", "only these attributes (dotted paths; \\. for a dot inside a key)")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      const data = await client.get<Json>(client.orgPath(path, name));
      const attributes = flagsOf(command).attribute as string[] | undefined;
      if (attributes) {
        const view = kind === "node" ? mergedNodeView(data) : data;
        const picked = Object.fromEntries(attributes.map((a) => [a, getPath(view, a)]));
        print(command, picked, () => attributes.map((a) => `${a}: ${scalar(picked[a])}`).join("\n"));
        return;
      }
      print(command, data, () => (kind === "node" ? nodeSummary(data) : JSON.stringify(data, null, 2)));
    }),
  );

  const create = connectionOptions(group.command("create").argument("<name>").description(`Create a ${kind}`))
    .option("--run-list <items>", "run list, comma-separated (nodes and roles)")
    .option("-E, --environment <name>", "environment (nodes)")
    .option("--description <text>", "description (roles and environments)")
    .option("--json <text>", "the whole object as JSON, merged over the flags");
  create.action(
    action(async (command, name: string) => {
      const flags = flagsOf(command);
      const client = await clientFor(command);
      const data: Json = { name };
      if (flags.runList) data.run_list = String(flags.runList).split(",").map((s) => s.trim()).filter(Boolean);
      if (flags.environment && kind === "node") data.chef_environment = flags.environment;
      if (flags.description && kind !== "node") data.description = flags.description;
      if (flags.json) Object.assign(data, parseJsonFlag(String(flags.json)));
      const { body } = await client.request<Json>("POST", client.orgPath(path), { body: data });
      print(command, body, () => `Created ${kind} ${name}`);
    }),
  );

  connectionOptions(group.command("edit").argument("<name>").description(`Edit a ${kind} in $EDITOR (saved only if nobody changed it meanwhile)`)).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await editObject(command, client, client.orgPath(path, name), `${kind} ${name}`);
    }),
  );

  connectionOptions(group.command("delete").argument("<name>").description(`Delete a ${kind}`)).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await client.request("DELETE", client.orgPath(path, name));
      print(command, { name, deleted: true }, () => `Deleted ${kind} ${name}`);
    }),
  );

  connectionOptions(group.command("from-file").argument("<files...>").description(`Create or update ${kind}s from .json or .ts files`)).action(
    action(async (command, files: string[]) => {
      const client = await clientFor(command);
      const saved: string[] = [];
      for (const file of files) {
        const data = fromDefinition(kind, await loadObjectFile(file), file);
        await client.request("PUT", client.orgPath(path, String(data.name)), { body: data });
        saved.push(String(data.name));
      }
      print(command, saved, () => saved.map((name) => `Saved ${kind} ${name}`).join("\n"));
    }),
  );
  return group;
}

function mergedNodeView(node: Json): Json {
  const merge = (target: Json, source: unknown): void => {
    if (typeof source !== "object" || source === null || Array.isArray(source)) return;
    for (const [key, value] of Object.entries(source)) {
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        const base = typeof target[key] === "object" && target[key] !== null && !Array.isArray(target[key]) ? (target[key] as Json) : {};
        target[key] = base;
        merge(base, value);
      } else target[key] = value;
    }
  };
  const view: Json = {};
  for (const level of [node.default, node.normal, node.override, node.automatic]) merge(view, level);
  return { ...view, name: node.name, chef_environment: node.chef_environment, run_list: node.run_list };
}

/** `--json TEXT`, `--json -` (standard input) or `--json @FILE`: the last two keep secrets out of the process list. */
function parseJsonFlag(argument: string): Json {
  try {
    const text = argument === "-" ? readFileSync(0, "utf8") : argument.startsWith("@") ? readFileSync(argument.slice(1), "utf8") : argument;
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (error) {
    throw new SousError("bad_json", `--json: ${(error as Error).message}`);
  }
}

function registerRunList(node: Command): void {
  const runList = node.command("run-list").description("Change a node's run list");
  const change = (verb: "add" | "remove" | "set", apply: (current: string[], items: string[]) => string[]) =>
    connectionOptions(runList.command(verb).argument("<node>").argument("<items...>", "role[x] or recipe[y], separated by spaces or commas").description(`${verb[0]!.toUpperCase()}${verb.slice(1)} run-list items`)).action(
      action(async (command, name: string, items: string[]) => {
        const client = await clientFor(command);
        const normalized = items.flatMap((item) => item.split(",")).map((item) => item.trim()).filter(Boolean).map((item) => (item.includes("[") ? item : `recipe[${item}]`));
        const current = await client.request<Json>("GET", client.orgPath("nodes", name));
        const next = { ...current.body, run_list: apply((current.body.run_list as string[]) ?? [], normalized) };
        const { body } = await client.request<Json>("PUT", client.orgPath("nodes", name), { body: next, ...(current.etag ? { ifMatch: current.etag } : {}) });
        print(command, body, () => `${name}: ${((body.run_list as string[]) ?? []).join(", ") || "(empty run list)"}`);
      }),
    );
  change("add", (current, items) => [...current, ...items.filter((item) => !current.includes(item))]);
  change("remove", (current, items) => current.filter((item) => !items.includes(item)));
  change("set", (_current, items) => items);
}

function registerDataBags(program: Command): void {
  const group = program.command("data-bag").description("Manage data bags and their items (encrypted with --secret-file)");
  const secretOption = (command: Command) => command.option("--secret-file <file>", "shared secret: encrypt on write, decrypt on read (never sent to the server)");

  connectionOptions(group.command("list").argument("[bag]", "list this bag's items instead of the bags")).action(
    action(async (command, bag?: string) => {
      const client = await clientFor(command);
      const page = await client.get<{ names: string[] }>(bag ? client.orgPath("data", bag) : client.orgPath("data"));
      print(command, page.names, () => page.names.join("\n"));
    }),
  );

  const writeItem = async (command: Command, bag: string, item: Json, mode: "create" | "upsert"): Promise<Json> => {
    const flags = flagsOf(command);
    const client = await clientFor(command);
    const sealed = flags.secretFile ? encryptItem(item, loadSecretFile(String(flags.secretFile))) : item;
    if (mode === "create") return (await client.request<Json>("POST", client.orgPath("data", bag), { body: sealed })).body;
    return (await client.request<Json>("PUT", client.orgPath("data", bag, String(item.id)), { body: sealed })).body;
  };

  secretOption(connectionOptions(group.command("create").argument("<bag>").argument("[item]").description("Create a data bag, or an item in one (from --json or $EDITOR)")))
    .option("--json <text>", "the item as JSON; - reads it from standard input, @FILE from a file (a secret in the command line shows in the process list)")
    .action(
      action(async (command, bag: string, itemName?: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        if (!itemName) {
          await client.request("POST", client.orgPath("data"), { body: { name: bag } });
          print(command, { name: bag }, () => `Created data bag ${bag}`);
          return;
        }
        const item = flags.json ? parseJsonFlag(String(flags.json)) : ((await editInEditor({ id: itemName }, { secret: Boolean(flags.secretFile) })) as Json);
        item.id = itemName;
        await writeItem(command, bag, item, "create");
        print(command, { bag, id: itemName, encrypted: Boolean(flags.secretFile) }, () => `Created data bag item ${bag}/${itemName}${flags.secretFile ? " (encrypted)" : ""}`);
      }),
    );

  secretOption(connectionOptions(group.command("show").argument("<bag>").argument("[item]").description("Show a data bag's items, or one item (decrypted with --secret-file)"))).action(
    action(async (command, bag: string, itemName?: string) => {
      const flags = flagsOf(command);
      const client = await clientFor(command);
      if (!itemName) {
        const page = await client.get<{ names: string[] }>(client.orgPath("data", bag));
        print(command, page.names, () => page.names.join("\n"));
        return;
      }
      const stored = await client.get<Json>(client.orgPath("data", bag, itemName));
      const item = flags.secretFile ? decryptItem(stored, loadSecretFile(String(flags.secretFile))) : stored;
      if (!flags.secretFile && isEncryptedItem(stored)) writers(rootOf(command)).err("sous: this item is encrypted; pass --secret-file to read it\n");
      print(command, item, () => JSON.stringify(item, null, 2));
    }),
  );

  secretOption(connectionOptions(group.command("edit").argument("<bag>").argument("<item>").description("Edit an item in $EDITOR (decrypted and re-encrypted with --secret-file)"))).action(
    action(async (command, bag: string, itemName: string) => {
      const flags = flagsOf(command);
      const client = await clientFor(command);
      const key = flags.secretFile ? loadSecretFile(String(flags.secretFile)) : undefined;
      const current = await client.request<Json>("GET", client.orgPath("data", bag, itemName));
      const edited = (await editInEditor(key ? decryptItem(current.body, key) : current.body, { secret: key !== undefined })) as Json;
      edited.id = itemName;
      await client.request("PUT", client.orgPath("data", bag, itemName), { body: key ? encryptItem(edited, key) : edited, ...(current.etag ? { ifMatch: current.etag } : {}) });
      print(command, { bag, id: itemName }, () => `Saved data bag item ${bag}/${itemName}`);
    }),
  );

  secretOption(connectionOptions(group.command("from-file").argument("<bag>").argument("<files...>").description("Create or update items from JSON files (data_bags/BAG/ITEM.json)"))).action(
    action(async (command, bag: string, files: string[]) => {
      const saved: string[] = [];
      for (const file of files) {
        const item = await loadObjectFile(file);
        if (item.id === undefined) item.id = basename(file).replace(/\.(json|ts|js)$/, "");
        await writeItem(command, bag, item, "upsert");
        saved.push(String(item.id));
      }
      print(command, saved, () => saved.map((id) => `Saved data bag item ${bag}/${id}`).join("\n"));
    }),
  );

  connectionOptions(group.command("delete").argument("<bag>").argument("[item]").description("Delete a data bag (with its items) or one item")).action(
    action(async (command, bag: string, itemName?: string) => {
      const client = await clientFor(command);
      await client.request("DELETE", itemName ? client.orgPath("data", bag, itemName) : client.orgPath("data", bag));
      print(command, { bag, ...(itemName ? { id: itemName } : {}), deleted: true }, () => `Deleted data bag ${itemName ? "item " : ""}${bag}${itemName ? `/${itemName}` : ""}`);
    }),
  );
}

/** Writes a private key file (0600) next to the configuration; refuses to overwrite. */
function writeKeyFile(path: string, pem: string): string {
  const full = resolve(path);
  if (existsSync(full)) throw new SousError("key_exists", `${full} already exists; move it away or pass another --key-out`);
  mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
  writeFileSync(full, pem, { mode: 0o600 });
  return full;
}

function registerClients(program: Command): void {
  const group = program.command("client").description("Manage clients (identities with a key pair)");

  connectionOptions(group.command("list").description("List the organization's clients")).action(
    action(async (command) => {
      const client = await clientFor(command);
      const page = await client.get<{ names: string[] }>(client.orgPath("clients"));
      print(command, page.names, () => page.names.join("\n"));
    }),
  );

  connectionOptions(group.command("show").argument("<name>").description("Show a client: admin and validator flags, creation time")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      const data = await client.get<Json>(client.orgPath("clients", name));
      print(command, data, () => `Client:    ${String(data.name)}\nAdmin:     ${String(data.admin)}\nValidator: ${String(data.validator)}\nCreated:   ${String(data.created_at)}`);
    }),
  );

  connectionOptions(group.command("create").argument("<name>").description("Create a client; its key pair is made here and the private key never leaves this machine"))
    .option("--admin", "an administrator of the organization")
    .option("--key-out <file>", "where to write the private key (default ~/.sous/ORG/NAME.pem)")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const keys = generateKeyPair();
        const keyFile = String(flags.keyOut ?? join(sousHome(), client.options.org ?? "default", `${name}.pem`));
        writeKeyFile(keyFile, keys.privateKey);
        try {
          await client.request("POST", client.orgPath("clients"), { body: { name, public_key: keys.publicKey, admin: flags.admin === true } });
        } catch (error) {
          rmSync(keyFile, { force: true });
          throw error;
        }
        print(command, { name, key: resolve(keyFile) }, () => `Created client ${name}; private key in ${resolve(keyFile)}`);
      }),
    );

  const clientPath = (client: SousClient, name: string): string => client.orgPath("clients", name);
  const clientReasons = (name: string): Record<string, string> => ({
    public_key: `the public key changes only with \`sous client rotate-key ${name}\` (the private key never leaves its machine)`,
    name: "a client cannot be renamed; create a new client and delete this one",
  });
  const flagsText = (data: Json): string => `admin: ${String(data.admin)}, validator: ${String(data.validator)}`;

  connectionOptions(group.command("edit").argument("<name>").description("Edit a client's admin and validator flags in $EDITOR (saved only if nobody changed it meanwhile)")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await editObject(command, client, clientPath(client, name), `client ${name}`, onlyEditable(`client ${name}`, ["admin", "validator"], clientReasons(name)));
    }),
  );

  connectionOptions(group.command("from-file").argument("<files...>").description("Create clients or update their admin and validator flags from .json or .ts files; a new client without public_key gets a key pair made here"))
    .option("--key-dir <dir>", "where the private keys of clients created without public_key go (default ~/.sous/ORG/)")
    .action(
      action(async (command, files: string[]) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const results: Json[] = [];
        for (const file of files) {
          await inFile(command, file, async () => {
            const data = namedDefinition(await loadObjectFile(file), file, { publicKey: "public_key", createdAt: "created_at" });
            const name = String(data.name);
            refuseUnknownFields(file, data, ["name", "public_key", "admin", "validator", "created_at"]);
            for (const flag of ["admin", "validator"]) if (data[flag] !== undefined && typeof data[flag] !== "boolean") throw new SousError("bad_file", `${flag} must be true or false`);
            const existing = await tryGet(client, clientPath(client, name));
            if (existing) {
              if (data.public_key !== undefined && data.public_key !== existing.public_key) throw new SousError("not_editable", clientReasons(name).public_key!);
              const { body } = await client.request<Json>("PUT", clientPath(client, name), { body: { name, ...(data.admin !== undefined ? { admin: data.admin } : {}), ...(data.validator !== undefined ? { validator: data.validator } : {}) } });
              results.push({ ...body, created: false });
              return;
            }
            let publicKey = data.public_key as string | undefined;
            let keyFile: string | undefined;
            if (publicKey === undefined) {
              const keys = generateKeyPair();
              publicKey = keys.publicKey;
              keyFile = writeKeyFile(join(String(flags.keyDir ?? join(sousHome(), client.options.org ?? "default")), `${name}.pem`), keys.privateKey);
            }
            try {
              await client.request("POST", client.orgPath("clients"), { body: { name, public_key: publicKey, admin: data.admin === true } });
            } catch (error) {
              if (keyFile) rmSync(keyFile, { force: true });
              throw error;
            }
            // Creation makes no validators: the flag is a change of its own.
            const body = data.validator === true ? (await client.request<Json>("PUT", clientPath(client, name), { body: { validator: true } })).body : await client.get<Json>(clientPath(client, name));
            results.push({ ...body, created: true, ...(keyFile ? { key: keyFile } : {}) });
          });
        }
        print(command, results, () => results.map((r) => `${r.created ? "Created" : "Saved"} client ${String(r.name)} (${flagsText(r)})${r.key ? `; private key in ${String(r.key)}` : ""}`).join("\n"));
      }),
    );

  connectionOptions(group.command("rotate-key").argument("<name>").description("Give a client a new key pair (the old key stops working at once)"))
    .option("--key-out <file>", "where to write the new private key (default ~/.sous/ORG/NAME.pem, replacing the old one)")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const keys = generateKeyPair();
        await client.request("PUT", client.orgPath("clients", name, "key"), { body: { public_key: keys.publicKey } });
        const keyFile = resolve(String(flags.keyOut ?? join(sousHome(), client.options.org ?? "default", `${name}.pem`)));
        mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
        writeFileSync(keyFile, keys.privateKey, { mode: 0o600 });
        print(command, { name, key: keyFile }, () => `Rotated the key of ${name}; new private key in ${keyFile}`);
      }),
    );

  connectionOptions(group.command("delete").argument("<name>").description("Delete (revoke) a client")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await client.request("DELETE", client.orgPath("clients", name));
      print(command, { name, deleted: true }, () => `Deleted client ${name}; its key no longer works`);
    }),
  );

  connectionOptions(group.command("bootstrap-token").description("Make a one-time token with which a new node registers itself"))
    .option("--ttl <seconds>", "how long the token is valid", "3600")
    .action(
      action(async (command) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const { body } = await client.request<{ token: string; expires_at: string }>("POST", client.orgPath("bootstrap-tokens"), { body: { ttl_seconds: Number(flags.ttl) } });
        print(command, body, () => `${body.token}\n(valid once, until ${body.expires_at})`);
      }),
    );

  connectionOptions(group.command("register").argument("<name>").description("Register this machine as a new client, with a bootstrap token or the validator key"))
    .option("--token <token>", "one-time bootstrap token (otherwise --client/--key are the validator's)")
    .requiredOption("--key-out <file>", "where to write this client's new private key")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const config = await connectionConfig(command);
        if (!config.server_url || !config.org) throw new SousError("no_server", "registration needs --server-url and --org");
        const keys = generateKeyPair();
        const body = { name, public_key: keys.publicKey, ...(flags.token ? { token: String(flags.token) } : {}) };
        const client = flags.token
          ? new SousClient({ serverUrl: config.server_url, org: config.org, client: name })
          : await clientFor(command);
        await client.request("POST", client.orgPath("clients", "register"), { body, ...(flags.token ? { unsigned: true } : {}) });
        const keyFile = writeKeyFile(String(flags.keyOut), keys.privateKey);
        print(command, { name, key: keyFile }, () => `Registered client ${name}; private key in ${keyFile}`);
      }),
    );
}

/** Creates an organization with an admin client and a validator whose private keys go to ~/.sous/NAME/. */
async function createOrganization(client: SousClient, name: string, fullName: string, adminName: string): Promise<{ adminKey: string; validatorKey: string }> {
  const admin = generateKeyPair();
  const validator = generateKeyPair();
  const dir = join(sousHome(), name);
  const adminKey = join(dir, `${adminName}.pem`);
  const validatorKey = join(dir, `${name}-validator.pem`);
  for (const file of [adminKey, validatorKey]) if (existsSync(file)) throw new SousError("key_exists", `${file} already exists; remove it or choose another organization name`);
  await client.request("POST", "/api/v1/orgs", { body: { name, full_name: fullName, admin: { name: adminName, public_key: admin.publicKey }, validator: { public_key: validator.publicKey } } });
  writeKeyFile(adminKey, admin.privateKey);
  writeKeyFile(validatorKey, validator.privateKey);
  return { adminKey, validatorKey };
}

/** An object, or undefined when the server answers 404. */
async function tryGet(client: SousClient, path: string): Promise<Json | undefined> {
  try {
    return await client.get<Json>(path);
  } catch (error) {
    if (error instanceof SousApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** Runs the work for one file of a from-file command; a failure names the file. */
async function inFile(command: Command, file: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    const failed = failure(error, command);
    // Parse errors already start with the file's name (file:line:column).
    throw failed.message.startsWith(file) || failed.message.startsWith(resolve(file)) ? failed : new SousError(failed.code, `${file}: ${failed.message}`);
  }
}

/** A definition with camelCase keys renamed to the API's, named after its file when it has no name. */
function namedDefinition(data: Json, file: string, renames: Record<string, string>): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(data)) out[renames[key] ?? key] = value;
  if (out.name === undefined) out.name = basename(file).replace(/\.(json|ts|js|mjs|mts)$/, "");
  if (typeof out.name !== "string" || out.name === "") throw new SousError("bad_file", `${file}: name must be a non-empty string`);
  return out;
}

function refuseUnknownFields(file: string, data: Json, known: readonly string[]): void {
  const unknown = Object.keys(data).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new SousError("bad_file", `${file}: unknown field${unknown.length === 1 ? "" : "s"} ${unknown.join(", ")} (expected ${known.join(", ")})`);
}

function registerOrgs(program: Command): void {
  const group = program.command("org").description("Manage organizations (server administrators)");
  const serverAdminClient = async (command: Command): Promise<SousClient> => {
    const flags = flagsOf(command);
    const { config, sources } = await resolveConfigSources(flags.serverUrl ? { server_url: flags.serverUrl } : {});
    const serverUrl = config.server_url ?? "http://127.0.0.1:8787";
    const keyFile = String(flags.serverKey ?? flags.key ?? join(defaultDataDir(sousHome()), "server-admin.pem"));
    const client = String(flags.serverClient ?? "server:admin");
    connections.set(command, {
      config: { server_url: serverUrl, client, key: keyFile },
      sources: {
        server_url: sources.server_url ?? "the default",
        client: client === "server:admin" ? "the default of --server-client" : "--server-client",
        key: flags.serverKey ? "--server-key" : flags.key ? "--key" : "the default of --server-key",
      },
    });
    return new SousClient({ serverUrl, client, privateKeyFile: keyFile });
  };
  const serverAdminOptions = (command: Command): Command =>
    connectionOptions(command)
      .option("--server-key <file>", "server administrator's key (default ~/.sous/server/server-admin.pem, written by the first `sous server` start)")
      .option("--server-client <name>", "server administrator's client name", "server:admin");

  serverAdminOptions(group.command("create").argument("<name>").description("Create an organization with an admin client and a validator; keys are written to ~/.sous/NAME/"))
    .option("--full-name <text>", "display name")
    .option("--admin-name <name>", "name of the first admin client", "admin")
    .option("--no-use", "do not make it the default in ~/.sous/config.json")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await serverAdminClient(command);
        const adminName = String(flags.adminName);
        const { adminKey, validatorKey } = await createOrganization(client, name, String(flags.fullName ?? name), adminName);
        let configured = "";
        if (flags.use !== false) {
          const previous: ClientConfig = readConfigFile();
          writeConfigFile({ ...previous, server_url: client.options.serverUrl, org: name, client: adminName, key: adminKey });
          configured = `\n~/.sous/config.json now points at ${name} as ${adminName}`;
        }
        print(command, { name, admin: adminName, admin_key: adminKey, validator: `${name}-validator`, validator_key: validatorKey }, () => `Created organization ${name}\n  admin client ${adminName}: ${adminKey}\n  validator ${name}-validator: ${validatorKey}${configured}`);
      }),
    );

  const orgPath = (name: string): string => `/api/v1/orgs/${encodeURIComponent(name)}`;

  serverAdminOptions(group.command("edit").argument("<name>").description("Edit an organization's full name in $EDITOR (saved only if nobody changed it meanwhile)")).action(
    action(async (command, name: string) => {
      const client = await serverAdminClient(command);
      await editObject(command, client, orgPath(name), `organization ${name}`, onlyEditable(`organization ${name}`, ["full_name"], { name: "an organization cannot be renamed" }));
    }),
  );

  serverAdminOptions(group.command("from-file").argument("<files...>").description("Create organizations (keys written to ~/.sous/NAME/) or update their full names, from .json or .ts files")).action(
    action(async (command, files: string[]) => {
      const client = await serverAdminClient(command);
      const results: Json[] = [];
      for (const file of files) {
        await inFile(command, file, async () => {
          const data = namedDefinition(await loadObjectFile(file), file, { fullName: "full_name", adminName: "admin_name" });
          const name = String(data.name);
          refuseUnknownFields(file, data, ["name", "full_name", "admin_name", "created_at"]);
          if (data.full_name !== undefined && typeof data.full_name !== "string") throw new SousError("bad_file", `full_name must be a string`);
          const fullName = (data.full_name as string | undefined) ?? name;
          if (!(await tryGet(client, orgPath(name)))) {
            const adminName = String(data.admin_name ?? "admin");
            const keys = await createOrganization(client, name, fullName, adminName);
            results.push({ name, full_name: fullName, created: true, admin: adminName, admin_key: keys.adminKey, validator_key: keys.validatorKey });
            return;
          }
          await client.request("PUT", orgPath(name), { body: { name, full_name: fullName } });
          results.push({ name, full_name: fullName, created: false });
        });
      }
      print(command, results, () => results.map((r) => (r.created ? `Created organization ${String(r.name)}; admin ${String(r.admin)}'s key in ${String(r.admin_key)}` : `Saved organization ${String(r.name)}`)).join("\n"));
    }),
  );

  serverAdminOptions(group.command("list").description("List the organizations on the server")).action(
    action(async (command) => {
      const { names } = await (await serverAdminClient(command)).get<{ names: string[] }>("/api/v1/orgs");
      print(command, names, () => names.join("\n"));
    }),
  );

  connectionOptions(group.command("show").argument("[name]", "organization (default: the configured one)").description("Show an organization")).action(
    action(async (command, name?: string) => {
      const client = await clientFor(command, name ? { org: name } : {});
      const data = await client.get<Json>(client.orgPath());
      print(command, data, () => `Organization: ${String(data.name)}\nFull name:    ${String(data.full_name)}\nCreated:      ${String(data.created_at)}`);
    }),
  );

  serverAdminOptions(group.command("delete").argument("<name>").description("Delete an organization and everything in it")).option("--yes", "really").action(
    action(async (command, name: string) => {
      const flags = flagsOf(command);
      if (flags.yes !== true) throw new SousError("not_confirmed", `deleting ${name} removes every node, role, cookbook and key in it; pass --yes to confirm`);
      await (await serverAdminClient(command)).request("DELETE", `/api/v1/orgs/${encodeURIComponent(name)}`);
      print(command, { name, deleted: true }, () => `Deleted organization ${name}`);
    }),
  );
}

function registerSearch(program: Command): void {
  connectionOptions(
    program
      .command("search")
      .argument("<index>", "node, role, environment, client, or a data bag name")
      .argument("[query]", "Lucene query, e.g. 'role:web AND platform:debian'", "*:*")
      .description("Search the server (Chef-style Lucene queries)"),
    ["text", "json", "chef"],
  )
    .option("-a, --attribute <path...>", "return only these attributes, each named by its dotted path (\\. for a dot inside a key; partial search)")
    .option("-k, --key-path <name=path>", "return NAME = the value at PATH (dotted; repeat for more), e.g. -k ip=ipaddress -k kernel=kernel.release", collectKey, [])
    .option("--keys <json>", `return named attribute paths, Chef's form: '{"ip": ["ipaddress"], "kernel": ["kernel", "release"]}'`)
    .option("--rows <n>", "how many results", "1000")
    .option("--start <n>", "skip this many results", "0")
    .option("--sort <key>", "sort by a key, e.g. 'name desc' or 'cpu_total asc'; 'created' for the server's own order", "name")
    .option("-i, --id-only", "names only")
    .action(
      action(async (command, index: string, query: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const params = new URLSearchParams({ q: query, rows: String(flags.rows), start: String(flags.start) });
        // People read names in order; the API's default (creation order) is for programs paging through.
        if (flags.sort && flags.sort !== "created") params.set("sort", String(flags.sort));
        const path = `${client.orgPath("search", index)}?${params}`;
        const nameOf = (row: Json): string => String(row.name ?? row.id ?? "");
        const keys = partialKeysOf(flags);
        if (keys) {
          const { body } = await client.request<PartialSearchBody>("POST", path, { body: keys });
          print(command, partialSearchOutput(body, flags.format === "chef" ? "chef" : "sous"), () => partialSearchText(body, keys), flags.format === "chef" ? "json" : flags.format);
          return;
        }
        const body = await client.get<{ total: number; rows: Json[] }>(path);
        print(command, flags.idOnly ? body.rows.map(nameOf) : flags.format === "chef" ? chefSearchBody(index, body) : body, () =>
          [`${body.total} result${body.total === 1 ? "" : "s"}`, ...body.rows.map((row) => (flags.idOnly || index !== "node" ? nameOf(row) : `${nameOf(row)}  ${String(row.chef_environment)}  ${((row.run_list as string[]) ?? []).join(",")}`))].join("\n"),
          flags.format === "chef" ? "json" : flags.format,
        );
      }),
    );
}

/** A flag's number: at least 0 (`zero` allowed) or above 0. */
function positiveNumber(flag: string, value: unknown, zero: boolean): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || (!zero && number === 0)) throw new SousError("usage", `${flag} ${String(value)}: expected a number${zero ? " of at least 0" : " above 0"}`);
  return number;
}

function registerServer(program: Command): void {
  program
    .command("server")
    .description("Run the Sous server (embedded SQLite by default, PostgreSQL with --database)")
    .option("--database <url>", "postgres://user@host:port/db (default: SQLite in --data-dir)")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8787")
    .option("--data-dir <dir>", "where the SQLite store and the first administrator key live (default ~/.sous/server)")
    .option("--tls-cert <file>", "TLS certificate (PEM); plain HTTP without it, e.g. behind a proxy")
    .option("--tls-key <file>", "TLS private key (PEM)")
    .option("--clock-skew <seconds>", "accepted clock difference of signed requests", "300")
    .option("--log", "log every request (JSON lines on stdout)")
    .option("--no-search-cache", "run every search in full (by default a repeated search reuses its hits while the keys it depends on are unchanged; SQLite)")
    .option("--max-index-keys <n>", "most distinct search keys one object may have (a save past it is refused)", "20000")
    .option("--max-index-rows <n>", "most search values one object may have", "200000")
    .option("--report-retention <days>", "keep run reports this many days (0: forever)", "30")
    .option("--run-interval <seconds>", "the agents' run interval: sous node status shows a node as missing after two without a report", "1800")
    .action(
      action(async (command) => {
        const flags = command.opts() as Json;
        const { out } = writers(rootOf(command));
        const listen = String(flags.listen);
        const match = /^(.*):(\d+)$/.exec(listen);
        if (!match) throw new SousError("bad_listen", `--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:8787`);
        const dataDir = resolve(String(flags.dataDir ?? defaultDataDir(sousHome())));
        const started = Date.now();
        // Loaded here, not at the top: other `sous` commands should not pay for the HTTP server and drivers.
        const { startServer } = await importOptional(["fastify", "better-sqlite3"], "sous server", () => import("../server/server.js"));
        const server = await startServer({
          dataDir,
          host: match[1]!.replace(/^\[(.*)\]$/, "$1"),
          port: Number(match[2]),
          ...(flags.database ? { database: String(flags.database) } : {}),
          ...(flags.tlsCert ? { tlsCertFile: String(flags.tlsCert) } : {}),
          ...(flags.tlsKey ? { tlsKeyFile: String(flags.tlsKey) } : {}),
          clockSkewMs: Number(flags.clockSkew) * 1000,
          logger: flags.log === true,
          searchCache: flags.searchCache !== false,
          indexLimits: { maxKeys: positiveNumber("--max-index-keys", flags.maxIndexKeys, false), maxRows: positiveNumber("--max-index-rows", flags.maxIndexRows, false) },
          reportRetentionDays: positiveNumber("--report-retention", flags.reportRetention, true),
          runIntervalSeconds: positiveNumber("--run-interval", flags.runInterval, false),
        });
        out(`Sous server listening on ${server.url} (store: ${flags.database ? "PostgreSQL" : join(dataDir, "sous.db")}; started in ${Date.now() - started} ms)\n`);
        if (server.adminKeyFile) {
          out(`First start: server administrator key written to ${server.adminKeyFile}\nNext: sous org create NAME --server-url ${server.url}${server.adminKeyFile === join(defaultDataDir(sousHome()), "server-admin.pem") ? "" : ` --server-key ${server.adminKeyFile}`}\n`);
        }
        await new Promise<void>((resolveStop) => {
          const stop = (): void => {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            resolveStop();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
        });
        await server.close();
        out("Sous server stopped\n");
      }),
    );
}

// ---- cookbooks ----

interface LocalCookbook {
  dir: string;
  name: string;
  version: string;
  description: string;
  dependencies: Record<string, string>;
  files: Array<{ path: string; full: string; sha256: string; size: number }>;
}

const SKIPPED_DIRS = new Set(["node_modules", ".git", ".sous"]);

/**
 * Reads a cookbook folder: package.json as the loader reads it (src/protocol/manifest.ts), with
 * the npm libraries installed for it (its own node_modules, its repository's) left out of the
 * cookbook dependencies; every file, refusing links and unsafe names.
 */
function readLocalCookbook(dir: string, maxFileSize: number, uploading: ReadonlySet<string>): LocalCookbook {
  const root = resolve(dir);
  const packageFile = join(root, "package.json");
  if (!existsSync(packageFile)) throw new SousError("not_a_cookbook", `${dir} has no package.json (a cookbook is an npm-style package: name, version, dependencies)`);
  const problems: Problem[] = [];
  const pkg = readCookbookPackage(root, problems);
  if (!pkg || problems.length > 0) throw new SousError("bad_cookbook", `${dir}: ${problems.map(formatProblem).join("; ")}`);
  const repository = findRepositoryRoot(root);
  const libraries = new Set([...installedPackages(root).libraries, ...(repository ? installedPackages(repository).libraries : [])]);
  const { name, version } = pkg;
  const files: LocalCookbook["files"] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current).sort()) {
      const full = join(current, entry);
      const info = lstatSync(full);
      const rel = relative(root, full).split(sep).join("/");
      if (info.isSymbolicLink()) throw new SousError("link_refused", `${rel} in ${name} is a symbolic link; cookbooks may hold only regular files`);
      if (info.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry)) walk(full);
        continue;
      }
      if (!info.isFile()) throw new SousError("special_file", `${rel} in ${name} is not a regular file`);
      const reason = unsafePathReason(rel);
      if (reason) throw new SousError("unsafe_path", `${rel} in ${name}: ${reason}`);
      if (info.size > maxFileSize) throw new SousError("file_too_large", `${rel} in ${name} is ${info.size} bytes; the limit is ${maxFileSize}`);
      const content = readFileSync(full);
      files.push({ path: rel, full, sha256: createHash("sha256").update(content).digest("hex"), size: content.length });
    }
  };
  walk(root);
  return { dir: root, name, version, description: pkg.description, dependencies: cookbookDependencies(pkg.dependencies, libraries, uploading), files };
}

/** Orders cookbooks so that each comes after the ones it depends on (among those being uploaded). */
function dependencyOrder(cookbooks: LocalCookbook[]): LocalCookbook[] {
  const byName = new Map(cookbooks.map((cookbook) => [cookbook.name, cookbook]));
  const ordered: LocalCookbook[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (cookbook: LocalCookbook, chain: string[]): void => {
    if (state.get(cookbook.name) === "done") return;
    if (state.get(cookbook.name) === "visiting") throw new SousError("dependency_cycle", `cookbook dependency cycle: ${[...chain, cookbook.name].join(" -> ")}`);
    state.set(cookbook.name, "visiting");
    for (const dependency of Object.keys(cookbook.dependencies)) {
      const local = byName.get(dependency);
      if (local) visit(local, [...chain, cookbook.name]);
    }
    state.set(cookbook.name, "done");
    ordered.push(cookbook);
  };
  for (const cookbook of cookbooks) visit(cookbook, []);
  return ordered;
}

/** Adds `upload`, `download`, `list`, `show` and `delete` to the `cookbook` command that main.ts creates (once; a second call does nothing). */
export function registerCookbookServerCommands(cookbook: Command): void {
  if (cookbook.commands.some((command) => command.name() === "upload")) return;
  connectionOptions(cookbook.command("upload").argument("<paths...>", "cookbook folders (or a cookbooks/ folder holding several)").description("Upload cookbooks; only files the server lacks are sent, dependencies are checked"))
    .option("--freeze", "freeze the uploaded versions (they can no longer be overwritten)")
    .option("--force", "overwrite a frozen version")
    .action(
      action(async (command, paths: string[]) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const dirs = paths.flatMap((path) => {
          const full = resolve(path);
          if (existsSync(join(full, "package.json"))) return [full];
          if (existsSync(full) && lstatSync(full).isDirectory()) {
            const entries = readdirSync(full).sort().map((entry) => join(full, entry));
            const books = entries.filter((entry) => existsSync(join(entry, "package.json")));
            if (books.length > 0) return books;
            const folders = entries.filter((entry) => lstatSync(entry).isDirectory()).map((entry) => basename(entry));
            const chefLike = folders.filter((name) => ["metadata.json", "metadata.rb"].some((file) => existsSync(join(full, name, file))));
            throw new SousError(
              "not_a_cookbook",
              `${path} holds no cookbook: a cookbook is a folder with a package.json (name, version, dependencies)${folders.length > 0 ? `, and none of ${folders.slice(0, 5).join(", ")}${folders.length > 5 ? ", ..." : ""} has one` : ""}${chefLike.length > 0 ? ` (${chefLike.join(", ")} ${chefLike.length === 1 ? "has" : "have"} Chef's metadata instead: see "Your first repository" in the README)` : ""}`,
            );
          }
          throw new SousError("not_a_cookbook", `${path} is neither a cookbook (a folder with package.json) nor a folder of cookbooks`);
        });
        const uploading = new Set(dirs.map((dir) => readCookbookPackage(dir, [])?.name).filter((name): name is string => name !== undefined));
        const local = dependencyOrder(dirs.map((dir) => readLocalCookbook(dir, 8 * 1024 * 1024, uploading)));
        // With a lock file, only what was locked goes to the server.
        (await import("../cookbook/lock.js")).refuseUnlocked(local);
        const results: Json[] = [];
        for (const book of local) {
          const { body } = await client.request<{ missing: string[] }>("POST", client.orgPath("cookbooks", "check"), { body: { checksums: book.files.map((file) => file.sha256) } });
          const missing = new Set(body.missing);
          for (const file of book.files) {
            if (!missing.has(file.sha256)) continue;
            await client.request("PUT", client.orgPath("files", file.sha256), { body: readFileSync(file.full) });
            missing.delete(file.sha256);
          }
          const manifest = { name: book.name, version: book.version, description: book.description, dependencies: book.dependencies, files: book.files.map(({ path, sha256, size }) => ({ path, sha256, size })), frozen: flags.freeze === true };
          await client.request("PUT", `${client.orgPath("cookbooks", book.name, book.version)}${flags.force ? "?force=true" : ""}`, { body: manifest });
          results.push({ name: book.name, version: book.version, files: book.files.length, sent: body.missing.length });
        }
        print(command, results, () => results.map((r) => `Uploaded ${String(r.name)}@${String(r.version)} (${String(r.files)} files, ${String(r.sent)} sent)`).join("\n"));
      }),
    );

  connectionOptions(cookbook.command("download").argument("<name>").argument("[version]", "version (default: the newest)").description("Download a cookbook version into a folder"))
    .option("--dir <dir>", "where to put it (default ./NAME-VERSION)")
    .action(
      action(async (command, name: string, version?: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const manifest = await client.get<CookbookManifest>(client.orgPath("cookbooks", name, version ?? "_latest"));
        const target = resolve(String(flags.dir ?? `${name}-${manifest.version}`));
        for (const file of manifest.files) {
          // The server validated paths; check again, since this writes to the local disk.
          const reason = unsafePathReason(file.path);
          if (reason) throw new SousError("unsafe_path", `the server sent an unsafe path ${JSON.stringify(file.path)}: ${reason}`);
          const content = (await client.request<Buffer>("GET", client.orgPath("files", file.sha256), { raw: true })).body;
          if (createHash("sha256").update(content).digest("hex") !== file.sha256) throw new SousError("checksum_mismatch", `${file.path}: the downloaded content does not match its SHA-256`);
          const destination = join(target, ...file.path.split("/"));
          mkdirSync(dirname(destination), { recursive: true });
          writeFileSync(destination, content);
        }
        print(command, { name, version: manifest.version, dir: target }, () => `Downloaded ${name}@${manifest.version} to ${target}`);
      }),
    );

  connectionOptions(cookbook.command("list").description("List cookbooks and their versions on the server")).action(
    action(async (command) => {
      const client = await clientFor(command);
      const { cookbooks } = await client.get<{ cookbooks: Record<string, string[]> }>(client.orgPath("cookbooks"));
      print(command, cookbooks, () => Object.entries(cookbooks).map(([name, versions]) => `${name}  ${versions.join(", ")}`).join("\n"));
    }),
  );

  connectionOptions(cookbook.command("show").argument("<name>").argument("[version]").description("Show a cookbook's versions, or one version's manifest")).action(
    action(async (command, name: string, version?: string) => {
      const client = await clientFor(command);
      if (!version) {
        const data = await client.get<{ versions: string[] }>(client.orgPath("cookbooks", name));
        print(command, data, () => `${name}  ${data.versions.join(", ")}`);
        return;
      }
      const manifest = await client.get<CookbookManifest>(client.orgPath("cookbooks", name, version));
      print(command, manifest, () =>
        [`${manifest.name}@${manifest.version}${manifest.frozen ? " (frozen)" : ""}`, `dependencies: ${Object.entries(manifest.dependencies).map(([d, r]) => `${d} ${r}`).join(", ") || "none"}`, ...manifest.files.map((f) => `  ${f.path}  ${f.size} B`)].join("\n"),
      );
    }),
  );

  connectionOptions(cookbook.command("delete").argument("<name>").argument("<version>").description("Delete a cookbook version")).action(
    action(async (command, name: string, version: string) => {
      const client = await clientFor(command);
      await client.request("DELETE", client.orgPath("cookbooks", name, version));
      print(command, { name, version, deleted: true }, () => `Deleted ${name}@${version}`);
    }),
  );
}

/** Registers the commands that run or talk to a Sous server. */
export function registerServerCommands(program: Command): void {
  registerServer(program);
  registerOrgs(program);
  const node = registerCollection(program, "node");
  registerRunList(node);
  registerCollection(program, "role");
  registerCollection(program, "environment");
  registerDataBags(program);
  registerClients(program);
  registerSearch(program);
  registerFleetCommands(program, node);
  // main.ts makes `sous cookbook` (create, check); the server's subcommands join it, or a new one.
  const cookbook = program.commands.find((command) => command.name() === "cookbook") ?? program.command("cookbook").description("Work with cookbooks");
  registerCookbookServerCommands(cookbook);
}
