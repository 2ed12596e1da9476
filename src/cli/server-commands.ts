// The commands that run or talk to a Sous server: `sous server`, and knife's object commands
// (org, node, role, environment, data-bag, client, search, cookbook upload/download/...), one
// file per object kind; what they share is in connection.ts, object-files.ts and editing.ts.
import type { Command } from "commander";
import { registerClientCommands } from "./client-commands.js";
import { registerCookbookServerCommands } from "./cookbook-commands.js";
import { registerDataBagCommands } from "./data-bag-commands.js";
import { registerEnvironmentCommands } from "./environment-commands.js";
import { registerFleetCommands } from "./fleet-commands.js";
import { registerNodeCommands } from "./node-commands.js";
import { registerOrgCommands } from "./org-commands.js";
import { registerRoleCommands } from "./role-commands.js";
import { registerSearchCommand } from "./search-commands.js";
import { registerServerStart } from "./server-start.js";

export { registerCookbookServerCommands };

/** Registers the commands that run or talk to a Sous server. */
export function registerServerCommands(program: Command): void {
  registerServerStart(program);
  registerOrgCommands(program);
  const node = registerNodeCommands(program);
  registerRoleCommands(program);
  registerEnvironmentCommands(program);
  registerDataBagCommands(program);
  registerClientCommands(program);
  registerSearchCommand(program);
  registerFleetCommands(program, node);
  // main.ts makes `sous cookbook` (create, check); the server's subcommands join it, or a new one.
  const cookbook = program.commands.find((command) => command.name() === "cookbook") ?? program.command("cookbook").description("Work with cookbooks");
  registerCookbookServerCommands(cookbook);
}
