// `sous role`: the shared collection verbs; a role has a description.
import type { Command } from "commander";
import { registerCollection } from "./collection-commands.js";

/** Registers `sous role` (list, show, create, edit, delete, from-file). */
export function registerRoleCommands(program: Command): void {
  registerCollection(program, { name: "role", path: "roles", createFields: (flags) => (flags.description ? { description: flags.description } : {}) });
}
