// `sous org`: organizations, managed by the server administrator (whose key the first
// `sous server` start writes); `org show` uses the ordinary client of the organization.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { SousClient } from "../client/api.js";
import type { ClientConfig } from "../client/config.js";
import { readConfigFile, resolveConfigSources, sousHome, writeConfigFile } from "../client/config.js";
import { generateKeyPair } from "../protocol/signing.js";
import { defaultAdminKeyFile } from "../run/server.js";
import { SousError } from "../core/errors.js";
import { action, clientFor, connectionOptions, flagsOf, inFile, print, rememberConnection, tryGet, type Json } from "./connection.js";
import { editObject, onlyEditable } from "./editing.js";
import { loadObjectFile, namedDefinition, refuseUnknownFields, writeKeyFile } from "./object-files.js";

/** Registers `sous org` (create, edit, from-file, list, show, delete). */
export function registerOrgCommands(program: Command): void {
  const group = program.command("org").description("Manage organizations (server administrators)");
  registerCreate(group);
  registerEdit(group);
  registerFromFile(group);
  registerList(group);
  registerShow(group);
  registerDelete(group);
}

/** A client signing as the server administrator (--server-client, --server-key), remembered for error messages. */
async function serverAdminClient(command: Command): Promise<SousClient> {
  const flags = flagsOf(command);
  const { config, sources } = await resolveConfigSources(flags.serverUrl ? { server_url: flags.serverUrl } : {});
  const serverUrl = config.server_url ?? "http://127.0.0.1:8787";
  const keyFile = String(flags.serverKey ?? flags.key ?? defaultAdminKeyFile());
  const client = String(flags.serverClient ?? "server:admin");
  rememberConnection(command, { server_url: serverUrl, client, key: keyFile }, {
    server_url: sources.server_url ?? "the default",
    client: client === "server:admin" ? "the default of --server-client" : "--server-client",
    key: flags.serverKey ? "--server-key" : flags.key ? "--key" : "the default of --server-key",
  });
  return new SousClient({ serverUrl, client, privateKeyFile: keyFile });
}

function serverAdminOptions(command: Command): Command {
  return connectionOptions(command)
    .option("--server-key <file>", "server administrator's key (default ~/.sous/server/server-admin.pem, written by the first `sous server` start)")
    .option("--server-client <name>", "server administrator's client name", "server:admin");
}

/** Creates an organization with an admin client and a validator whose private keys go to ~/.sous/NAME/. */
async function createOrganization(client: SousClient, name: string, fullName: string, adminName: string): Promise<{ adminKey: string; validatorKey: string }> {
  const admin = generateKeyPair();
  const validator = generateKeyPair();
  const dir = join(sousHome(), name);
  const adminKey = join(dir, `${adminName}.pem`);
  const validatorKey = join(dir, `${name}-validator.pem`);
  for (const file of [adminKey, validatorKey]) if (existsSync(file)) throw new SousError("key_exists", `${file} already exists; remove it or choose another organization name`);
  await client.createOrg({ name, full_name: fullName, admin: { name: adminName, public_key: admin.publicKey }, validator: { public_key: validator.publicKey } });
  writeKeyFile(adminKey, admin.privateKey);
  writeKeyFile(validatorKey, validator.privateKey);
  return { adminKey, validatorKey };
}

function registerCreate(group: Command): void {
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
}

function registerEdit(group: Command): void {
  serverAdminOptions(group.command("edit").argument("<name>").description("Edit an organization's full name in $EDITOR (saved only if nobody changed it meanwhile)")).action(
    action(async (command, name: string) => {
      const client = await serverAdminClient(command);
      await editObject(command, client, client.orgsPath(name), `organization ${name}`, onlyEditable(`organization ${name}`, ["full_name"], { name: "an organization cannot be renamed" }));
    }),
  );
}

function registerFromFile(group: Command): void {
  serverAdminOptions(group.command("from-file").argument("<files...>").description("Create organizations (keys written to ~/.sous/NAME/) or update their full names, from .json or .ts files")).action(
    action(async (command, files: string[]) => {
      const client = await serverAdminClient(command);
      const results: Json[] = [];
      for (const file of files) await inFile(command, file, async () => void results.push(await saveOrgDefinition(client, file)));
      print(command, results, () => results.map((r) => (r.created ? `Created organization ${String(r.name)}; admin ${String(r.admin)}'s key in ${String(r.admin_key)}` : `Saved organization ${String(r.name)}`)).join("\n"));
    }),
  );
}

/** Creates or updates the organization a definition file describes; the result says which, and where new keys went. */
async function saveOrgDefinition(client: SousClient, file: string): Promise<Json> {
  const data = namedDefinition(await loadObjectFile(file), file, { fullName: "full_name", adminName: "admin_name" });
  const name = String(data.name);
  refuseUnknownFields(file, data, ["name", "full_name", "admin_name", "created_at"]);
  if (data.full_name !== undefined && typeof data.full_name !== "string") throw new SousError("bad_file", `full_name must be a string`);
  const fullName = (data.full_name as string | undefined) ?? name;
  if (!(await tryGet(client, client.orgsPath(name)))) {
    const adminName = String(data.admin_name ?? "admin");
    const keys = await createOrganization(client, name, fullName, adminName);
    return { name, full_name: fullName, created: true, admin: adminName, admin_key: keys.adminKey, validator_key: keys.validatorKey };
  }
  await client.updateOrg(name, fullName);
  return { name, full_name: fullName, created: false };
}

function registerList(group: Command): void {
  serverAdminOptions(group.command("list").description("List the organizations on the server")).action(
    action(async (command) => {
      const { names } = await (await serverAdminClient(command)).listOrgs();
      print(command, names, () => names.join("\n"));
    }),
  );
}

function registerShow(group: Command): void {
  connectionOptions(group.command("show").argument("[name]", "organization (default: the configured one)").description("Show an organization")).action(
    action(async (command, name?: string) => {
      const client = await clientFor(command, name ? { org: name } : {});
      const data = await client.getOrg();
      print(command, data, () => `Organization: ${String(data.name)}\nFull name:    ${String(data.full_name)}\nCreated:      ${String(data.created_at)}`);
    }),
  );
}

function registerDelete(group: Command): void {
  serverAdminOptions(group.command("delete").argument("<name>").description("Delete an organization and everything in it")).option("--yes", "really").action(
    action(async (command, name: string) => {
      const flags = flagsOf(command);
      if (flags.yes !== true) throw new SousError("not_confirmed", `deleting ${name} removes every node, role, cookbook and key in it; pass --yes to confirm`);
      await (await serverAdminClient(command)).deleteOrg(name);
      print(command, { name, deleted: true }, () => `Deleted organization ${name}`);
    }),
  );
}
