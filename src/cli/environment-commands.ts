// `sous environment`: the shared collection verbs; an environment has a description and
// cookbook version pins, which a definition file may leave out.
import type { Command } from "commander";
import { registerCollection } from "./collection-commands.js";

/** Registers `sous environment` (list, show, create, edit, delete, from-file). */
export function registerEnvironmentCommands(program: Command): void {
  registerCollection(program, {
    name: "environment",
    path: "environments",
    createFields: (flags) => (flags.description ? { description: flags.description } : {}),
    definitionDefaults: { cookbook_versions: {} },
  });
}
