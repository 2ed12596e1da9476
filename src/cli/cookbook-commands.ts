// `sous cookbook upload|download|list|show|delete`: cookbooks on the server (main.ts makes
// `sous cookbook` with the repository verbs, create and check).
import type { Command } from "commander";
import { downloadCookbook, uploadCookbooks } from "../run/cookbooks.js";
import { action, clientFor, connectionOptions, flagsOf, print } from "./connection.js";

/** Adds `upload`, `download`, `list`, `show` and `delete` to the `cookbook` command that main.ts creates (once; a second call does nothing). */
export function registerCookbookServerCommands(cookbook: Command): void {
  if (cookbook.commands.some((command) => command.name() === "upload")) return;
  registerUpload(cookbook);
  registerDownload(cookbook);
  registerList(cookbook);
  registerShow(cookbook);
  registerDelete(cookbook);
}

function registerUpload(cookbook: Command): void {
  connectionOptions(cookbook.command("upload").argument("<paths...>", "cookbook folders (or a cookbooks/ folder holding several)").description("Upload cookbooks; only files the server lacks are sent, dependencies are checked"))
    .option("--freeze", "freeze the uploaded versions (they can no longer be overwritten)")
    .option("--force", "overwrite a frozen version")
    .action(
      action(async (command, paths: string[]) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const results = await uploadCookbooks(client, paths, { freeze: flags.freeze === true, force: flags.force === true });
        print(command, results, () => results.map((r) => `Uploaded ${r.name}@${r.version} (${r.files} files, ${r.sent} sent)`).join("\n"));
      }),
    );
}

function registerDownload(cookbook: Command): void {
  connectionOptions(cookbook.command("download").argument("<name>").argument("[version]", "version (default: the newest)").description("Download a cookbook version into a folder"))
    .option("--dir <dir>", "where to put it (default ./NAME-VERSION)")
    .action(
      action(async (command, name: string, version?: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const downloaded = await downloadCookbook(client, name, version, (newest) => String(flags.dir ?? `${name}-${newest}`));
        print(command, { name, version: downloaded.version, dir: downloaded.dir }, () => `Downloaded ${name}@${downloaded.version} to ${downloaded.dir}`);
      }),
    );
}

function registerList(cookbook: Command): void {
  connectionOptions(cookbook.command("list").description("List cookbooks and their versions on the server")).action(
    action(async (command) => {
      const client = await clientFor(command);
      const { cookbooks } = await client.listCookbooks();
      print(command, cookbooks, () => Object.entries(cookbooks).map(([name, versions]) => `${name}  ${versions.join(", ")}`).join("\n"));
    }),
  );
}

function registerShow(cookbook: Command): void {
  connectionOptions(cookbook.command("show").argument("<name>").argument("[version]").description("Show a cookbook's versions, or one version's manifest")).action(
    action(async (command, name: string, version?: string) => {
      const client = await clientFor(command);
      if (!version) {
        const data = await client.cookbookVersions(name);
        print(command, data, () => `${name}  ${data.versions.join(", ")}`);
        return;
      }
      const manifest = await client.getCookbook(name, version);
      print(command, manifest, () =>
        [`${manifest.name}@${manifest.version}${manifest.frozen ? " (frozen)" : ""}`, `dependencies: ${Object.entries(manifest.dependencies).map(([d, r]) => `${d} ${r}`).join(", ") || "none"}`, ...manifest.files.map((f) => `  ${f.path}  ${f.size} B`)].join("\n"),
      );
    }),
  );
}

function registerDelete(cookbook: Command): void {
  connectionOptions(cookbook.command("delete").argument("<name>").argument("<version>").description("Delete a cookbook version")).action(
    action(async (command, name: string, version: string) => {
      const client = await clientFor(command);
      await client.deleteCookbook(name, version);
      print(command, { name, version, deleted: true }, () => `Deleted ${name}@${version}`);
    }),
  );
}
