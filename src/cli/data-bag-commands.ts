// `sous data-bag`: bags and their items; with --secret-file an item is encrypted here before it
// is sent and decrypted here after it is read, so the server never sees the secret.
import { basename } from "node:path";
import type { Command } from "commander";
import type { DataBagItemBody } from "../client/api.js";
import { decryptItem, encryptItem, isEncryptedItem, loadSecretFile } from "../client/encrypted-data-bag.js";
import { action, clientFor, connectionOptions, flagsOf, print, rootOf, writers, type Json } from "./connection.js";
import { editInEditor } from "./editing.js";
import { loadObjectFile, parseJsonFlag } from "./object-files.js";

/** Registers `sous data-bag` (list, create, show, edit, from-file, delete). */
export function registerDataBagCommands(program: Command): void {
  const group = program.command("data-bag").description("Manage data bags and their items (encrypted with --secret-file)");
  registerList(group);
  registerCreate(group);
  registerShow(group);
  registerEdit(group);
  registerFromFile(group);
  registerDelete(group);
}

function secretOption(command: Command): Command {
  return command.option("--secret-file <file>", "shared secret: encrypt on write, decrypt on read (never sent to the server)");
}

/** Saves an item, encrypted first with --secret-file: `create` refuses an existing one, `upsert` replaces it. */
async function writeItem(command: Command, bag: string, item: Json, mode: "create" | "upsert"): Promise<Json> {
  const flags = flagsOf(command);
  const client = await clientFor(command);
  const sealed = flags.secretFile ? encryptItem(item, loadSecretFile(String(flags.secretFile))) : item;
  // The id was set by the caller; the server checks it.
  if (mode === "create") return client.createItem(bag, sealed as DataBagItemBody);
  return client.putItem(bag, sealed as DataBagItemBody);
}

function registerList(group: Command): void {
  connectionOptions(group.command("list").argument("[bag]", "list this bag's items instead of the bags")).action(
    action(async (command, bag?: string) => {
      const client = await clientFor(command);
      const page = bag ? await client.listItems(bag) : await client.listDataBags();
      print(command, page.names, () => page.names.join("\n"));
    }),
  );
}

function registerCreate(group: Command): void {
  secretOption(connectionOptions(group.command("create").argument("<bag>").argument("[item]").description("Create a data bag, or an item in one (from --json or $EDITOR)")))
    .option("--json <text>", "the item as JSON; - reads it from standard input, @FILE from a file (a secret in the command line shows in the process list)")
    .action(
      action(async (command, bag: string, itemName?: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        if (!itemName) {
          await client.createDataBag(bag);
          print(command, { name: bag }, () => `Created data bag ${bag}`);
          return;
        }
        const item = flags.json ? parseJsonFlag(String(flags.json)) : ((await editInEditor({ id: itemName }, { secret: Boolean(flags.secretFile) })) as Json);
        item.id = itemName;
        await writeItem(command, bag, item, "create");
        print(command, { bag, id: itemName, encrypted: Boolean(flags.secretFile) }, () => `Created data bag item ${bag}/${itemName}${flags.secretFile ? " (encrypted)" : ""}`);
      }),
    );
}

function registerShow(group: Command): void {
  secretOption(connectionOptions(group.command("show").argument("<bag>").argument("[item]").description("Show a data bag's items, or one item (decrypted with --secret-file)"))).action(
    action(async (command, bag: string, itemName?: string) => {
      const flags = flagsOf(command);
      const client = await clientFor(command);
      if (!itemName) {
        const page = await client.listItems(bag);
        print(command, page.names, () => page.names.join("\n"));
        return;
      }
      const stored = (await client.getItem(bag, itemName)).body;
      const item = flags.secretFile ? decryptItem(stored, loadSecretFile(String(flags.secretFile))) : stored;
      if (!flags.secretFile && isEncryptedItem(stored)) writers(rootOf(command)).err("sous: this item is encrypted; pass --secret-file to read it\n");
      print(command, item, () => JSON.stringify(item, null, 2));
    }),
  );
}

function registerEdit(group: Command): void {
  secretOption(connectionOptions(group.command("edit").argument("<bag>").argument("<item>").description("Edit an item in $EDITOR (decrypted and re-encrypted with --secret-file)"))).action(
    action(async (command, bag: string, itemName: string) => {
      const flags = flagsOf(command);
      const client = await clientFor(command);
      const key = flags.secretFile ? loadSecretFile(String(flags.secretFile)) : undefined;
      const current = await client.getItem(bag, itemName);
      const edited = (await editInEditor(key ? decryptItem(current.body, key) : current.body, { secret: key !== undefined })) as Json;
      edited.id = itemName;
      await client.putItem(bag, (key ? encryptItem(edited, key) : edited) as DataBagItemBody, current.etag);
      print(command, { bag, id: itemName }, () => `Saved data bag item ${bag}/${itemName}`);
    }),
  );
}

function registerFromFile(group: Command): void {
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
}

function registerDelete(group: Command): void {
  connectionOptions(group.command("delete").argument("<bag>").argument("[item]").description("Delete a data bag (with its items) or one item")).action(
    action(async (command, bag: string, itemName?: string) => {
      const client = await clientFor(command);
      await (itemName ? client.deleteItem(bag, itemName) : client.deleteDataBag(bag));
      print(command, { bag, ...(itemName ? { id: itemName } : {}), deleted: true }, () => `Deleted data bag ${itemName ? "item " : ""}${bag}${itemName ? `/${itemName}` : ""}`);
    }),
  );
}
