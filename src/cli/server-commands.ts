import type { Command } from "commander";

/** Registers the commands that talk to a Sous server (filled in by the server subsystem). */
export function registerServerCommands(_program: Command): void {}
