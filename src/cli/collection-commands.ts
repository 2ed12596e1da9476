// The verbs that nodes, roles and environments share (list, show, create, edit, delete,
// from-file); each kind's file says what differs in a `CollectionKind`.
import type { Command } from "commander";
import type { ObjectKind } from "../client/api.js";
import { splitDottedPath, valueAtPath } from "../protocol/partial-search.js";
import { action, clientFor, connectionOptions, flagsOf, print, type Json } from "./connection.js";
import { editObject } from "./editing.js";
import { loadObjectFile, namedDefinition, parseJsonFlag } from "./object-files.js";

/** What one kind of object (node, role, environment) adds to the shared verbs. */
export interface CollectionKind {
  /** The command's name and the word in messages: `node`. */
  name: "node" | "role" | "environment";
  /** The API's collection: `nodes`. */
  path: Exclude<ObjectKind, "clients">;
  /** The fields `create`'s kind-specific flags set (`--run-list` and `--json` are shared). */
  createFields(flags: Json): Json;
  /** The object `show -a PATH` reads attributes from (default: the object itself). */
  attributeView?(object: Json): Json;
  /** `show`'s text (default: the object as JSON). */
  summary?(object: Json): string;
  /** Fields a definition file may leave out, with the value the API needs. */
  definitionDefaults?: Json;
}

/** The value at a dotted path (`\.` for a dot inside a key), null where it leads nowhere: the walk partial search makes. */
function getPath(value: unknown, path: string): unknown {
  return valueAtPath(value, splitDottedPath(path));
}

/** A value as one line of text: strings as they are, anything else as JSON. */
export function scalar(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Maps a repository's camelCase definition (roles/*.ts) onto the API's fields, naming it after the file when it has no name. */
function fromDefinition(kind: CollectionKind, data: Json, file: string): Json {
  const renames: Record<string, string> = { runList: "run_list", envRunLists: "env_run_lists", defaultAttributes: "default_attributes", overrideAttributes: "override_attributes", cookbookVersions: "cookbook_versions", chefEnvironment: "chef_environment" };
  const out = namedDefinition(data, file, renames);
  for (const [key, value] of Object.entries(kind.definitionDefaults ?? {})) if (out[key] === undefined) out[key] = value;
  return out;
}

/** Registers `sous KIND` with the shared verbs; returns the group so that a kind can add its own. */
export function registerCollection(program: Command, kind: CollectionKind): Command {
  const group = program.command(kind.name).description(`Manage ${kind.name}s on the server`);
  registerList(group, kind);
  registerShow(group, kind);
  registerCreate(group, kind);
  registerEdit(group, kind);
  registerDelete(group, kind);
  registerFromFile(group, kind);
  return group;
}

function registerList(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("list").description(`List ${kind.name}s`)).action(
    action(async (command) => {
      const client = await clientFor(command);
      const names: string[] = [];
      for (let start = 0; ; start += 1000) {
        const page = await client.listObjects(kind.path, { start, rows: 1000 });
        names.push(...page.names);
        if (page.names.length === 0 || names.length >= page.total) break;
      }
      print(command, names, () => names.join("\n"));
    }),
  );
}

function registerShow(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("show").argument("<name>").description(`Show a ${kind.name}`).option("-a, --attribute <path...>", "only these attributes (dotted paths; \\. for a dot inside a key)")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      const data: Json = (await client.getObject(kind.path, name)).body;
      const attributes = flagsOf(command).attribute as string[] | undefined;
      if (attributes) {
        const view = kind.attributeView ? kind.attributeView(data) : data;
        const picked = Object.fromEntries(attributes.map((a) => [a, getPath(view, a)]));
        print(command, picked, () => attributes.map((a) => `${a}: ${scalar(picked[a])}`).join("\n"));
        return;
      }
      print(command, data, () => (kind.summary ? kind.summary(data) : JSON.stringify(data, null, 2)));
    }),
  );
}

function registerCreate(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("create").argument("<name>").description(`Create a ${kind.name}`))
    .option("--run-list <items>", "run list, comma-separated (nodes and roles)")
    .option("-E, --environment <name>", "environment (nodes)")
    .option("--description <text>", "description (roles and environments)")
    .option("--json <text>", "the whole object as JSON, merged over the flags")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const data: Json = { name };
        if (flags.runList) data.run_list = String(flags.runList).split(",").map((s) => s.trim()).filter(Boolean);
        Object.assign(data, kind.createFields(flags));
        if (flags.json) Object.assign(data, parseJsonFlag(String(flags.json)));
        const body = await client.createObject(kind.path, data);
        print(command, body, () => `Created ${kind.name} ${name}`);
      }),
    );
}

function registerEdit(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("edit").argument("<name>").description(`Edit a ${kind.name} in $EDITOR (saved only if nobody changed it meanwhile)`)).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await editObject(command, client, client.orgPath(kind.path, name), `${kind.name} ${name}`);
    }),
  );
}

function registerDelete(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("delete").argument("<name>").description(`Delete a ${kind.name}`)).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await client.deleteObject(kind.path, name);
      print(command, { name, deleted: true }, () => `Deleted ${kind.name} ${name}`);
    }),
  );
}

function registerFromFile(group: Command, kind: CollectionKind): void {
  connectionOptions(group.command("from-file").argument("<files...>").description(`Create or update ${kind.name}s from .json or .ts files`)).action(
    action(async (command, files: string[]) => {
      const client = await clientFor(command);
      const saved: string[] = [];
      for (const file of files) {
        const data = fromDefinition(kind, await loadObjectFile(file), file);
        await client.putObject(kind.path, String(data.name), data);
        saved.push(String(data.name));
      }
      print(command, saved, () => saved.map((name) => `Saved ${kind.name} ${name}`).join("\n"));
    }),
  );
}
