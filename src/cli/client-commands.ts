// `sous client`: identities with a key pair. A key pair is made here and its private half
// never leaves this machine; only the public key goes to the server.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { SousClient } from "../client/api.js";
import { sousHome } from "../client/config.js";
import { generateKeyPair } from "../protocol/signing.js";
import { SousError } from "../core/errors.js";
import { action, clientFor, connectionConfig, connectionOptions, flagsOf, inFile, print, tryGet, type Json } from "./connection.js";
import { editObject, onlyEditable } from "./editing.js";
import { loadObjectFile, namedDefinition, refuseUnknownFields, writeKeyFile } from "./object-files.js";

/** Registers `sous client` (list, show, create, edit, from-file, rotate-key, delete, bootstrap-token, register). */
export function registerClientCommands(program: Command): void {
  const group = program.command("client").description("Manage clients (identities with a key pair)");
  registerList(group);
  registerShow(group);
  registerCreate(group);
  registerEdit(group);
  registerFromFile(group);
  registerRotateKey(group);
  registerDelete(group);
  registerBootstrapToken(group);
  registerRegister(group);
}

function clientPath(client: SousClient, name: string): string {
  return client.orgPath("clients", name);
}

/** Why a client's field cannot be edited. */
function clientReasons(name: string): Record<string, string> {
  return {
    public_key: `the public key changes only with \`sous client rotate-key ${name}\` (the private key never leaves its machine)`,
    name: "a client cannot be renamed; create a new client and delete this one",
  };
}

/** Where a client's private key goes by default: ~/.sous/ORG/NAME.pem. */
function defaultKeyFile(client: SousClient, name: string): string {
  return join(sousHome(), client.options.org ?? "default", `${name}.pem`);
}

function registerList(group: Command): void {
  connectionOptions(group.command("list").description("List the organization's clients")).action(
    action(async (command) => {
      const client = await clientFor(command);
      const page = await client.listObjects("clients");
      print(command, page.names, () => page.names.join("\n"));
    }),
  );
}

function registerShow(group: Command): void {
  connectionOptions(group.command("show").argument("<name>").description("Show a client: admin and validator flags, creation time")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      const data: Json = (await client.getObject("clients", name)).body;
      print(command, data, () => `Client:    ${String(data.name)}\nAdmin:     ${String(data.admin)}\nValidator: ${String(data.validator)}\nCreated:   ${String(data.created_at)}`);
    }),
  );
}

function registerCreate(group: Command): void {
  connectionOptions(group.command("create").argument("<name>").description("Create a client; its key pair is made here and the private key never leaves this machine"))
    .option("--admin", "an administrator of the organization")
    .option("--key-out <file>", "where to write the private key (default ~/.sous/ORG/NAME.pem)")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const keys = generateKeyPair();
        const keyFile = String(flags.keyOut ?? defaultKeyFile(client, name));
        writeKeyFile(keyFile, keys.privateKey);
        try {
          await client.createObject("clients", { name, public_key: keys.publicKey, admin: flags.admin === true });
        } catch (error) {
          rmSync(keyFile, { force: true });
          throw error;
        }
        print(command, { name, key: resolve(keyFile) }, () => `Created client ${name}; private key in ${resolve(keyFile)}`);
      }),
    );
}

function registerEdit(group: Command): void {
  connectionOptions(group.command("edit").argument("<name>").description("Edit a client's admin and validator flags in $EDITOR (saved only if nobody changed it meanwhile)")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await editObject(command, client, clientPath(client, name), `client ${name}`, onlyEditable(`client ${name}`, ["admin", "validator"], clientReasons(name)));
    }),
  );
}

function registerFromFile(group: Command): void {
  connectionOptions(group.command("from-file").argument("<files...>").description("Create clients or update their admin and validator flags from .json or .ts files; a new client without public_key gets a key pair made here"))
    .option("--key-dir <dir>", "where the private keys of clients created without public_key go (default ~/.sous/ORG/)")
    .action(
      action(async (command, files: string[]) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const keyDir = String(flags.keyDir ?? join(sousHome(), client.options.org ?? "default"));
        const results: Json[] = [];
        for (const file of files) await inFile(command, file, async () => void results.push(await saveClientDefinition(client, file, keyDir)));
        const flagsText = (data: Json): string => `admin: ${String(data.admin)}, validator: ${String(data.validator)}`;
        print(command, results, () => results.map((r) => `${r.created ? "Created" : "Saved"} client ${String(r.name)} (${flagsText(r)})${r.key ? `; private key in ${String(r.key)}` : ""}`).join("\n"));
      }),
    );
}

/** Creates or updates the client a definition file describes; the result says which, and where a new private key went. */
async function saveClientDefinition(client: SousClient, file: string, keyDir: string): Promise<Json> {
  const data = namedDefinition(await loadObjectFile(file), file, { publicKey: "public_key", createdAt: "created_at" });
  const name = String(data.name);
  refuseUnknownFields(file, data, ["name", "public_key", "admin", "validator", "created_at"]);
  for (const flag of ["admin", "validator"]) if (data[flag] !== undefined && typeof data[flag] !== "boolean") throw new SousError("bad_file", `${flag} must be true or false`);
  const existing = await tryGet(client, clientPath(client, name));
  if (!existing) return createClientFromDefinition(client, name, data, keyDir);
  if (data.public_key !== undefined && data.public_key !== existing.public_key) throw new SousError("not_editable", clientReasons(name).public_key!);
  const { body } = await client.putObject("clients", name, { name, ...(data.admin !== undefined ? { admin: data.admin as boolean } : {}), ...(data.validator !== undefined ? { validator: data.validator as boolean } : {}) });
  return { ...body, created: false };
}

/** Creates a client from a definition; without public_key a key pair is made and its private key written to `keyDir`. */
async function createClientFromDefinition(client: SousClient, name: string, data: Json, keyDir: string): Promise<Json> {
  let publicKey = data.public_key as string | undefined;
  let keyFile: string | undefined;
  if (publicKey === undefined) {
    const keys = generateKeyPair();
    publicKey = keys.publicKey;
    keyFile = writeKeyFile(join(keyDir, `${name}.pem`), keys.privateKey);
  }
  try {
    await client.createObject("clients", { name, public_key: publicKey, admin: data.admin === true });
  } catch (error) {
    if (keyFile) rmSync(keyFile, { force: true });
    throw error;
  }
  // Creation makes no validators: the flag is a change of its own.
  const body: Json = (data.validator === true ? await client.putObject("clients", name, { validator: true }) : await client.getObject("clients", name)).body;
  return { ...body, created: true, ...(keyFile ? { key: keyFile } : {}) };
}

function registerRotateKey(group: Command): void {
  connectionOptions(group.command("rotate-key").argument("<name>").description("Give a client a new key pair (the old key stops working at once)"))
    .option("--key-out <file>", "where to write the new private key (default ~/.sous/ORG/NAME.pem, replacing the old one)")
    .action(
      action(async (command, name: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const keys = generateKeyPair();
        await client.rekeyClient(name, keys.publicKey);
        const keyFile = resolve(String(flags.keyOut ?? defaultKeyFile(client, name)));
        mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
        writeFileSync(keyFile, keys.privateKey, { mode: 0o600 });
        print(command, { name, key: keyFile }, () => `Rotated the key of ${name}; new private key in ${keyFile}`);
      }),
    );
}

function registerDelete(group: Command): void {
  connectionOptions(group.command("delete").argument("<name>").description("Delete (revoke) a client")).action(
    action(async (command, name: string) => {
      const client = await clientFor(command);
      await client.deleteObject("clients", name);
      print(command, { name, deleted: true }, () => `Deleted client ${name}; its key no longer works`);
    }),
  );
}

function registerBootstrapToken(group: Command): void {
  connectionOptions(group.command("bootstrap-token").description("Make a one-time token with which a new node registers itself"))
    .option("--ttl <seconds>", "how long the token is valid", "3600")
    .action(
      action(async (command) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const body = await client.createBootstrapToken(Number(flags.ttl));
        print(command, body, () => `${body.token}\n(valid once, until ${body.expires_at})`);
      }),
    );
}

function registerRegister(group: Command): void {
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
        await client.registerClient(body);
        const keyFile = writeKeyFile(String(flags.keyOut), keys.privateKey);
        print(command, { name, key: keyFile }, () => `Registered client ${name}; private key in ${keyFile}`);
      }),
    );
}
