import { Command } from "commander";
import { registerServerCommands } from "./server-commands.js";

/** Runs the `sous` command line and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command("sous");
  registerServerCommands(program);
  await program.parseAsync(argv, { from: "user" });
  return 0;
}
