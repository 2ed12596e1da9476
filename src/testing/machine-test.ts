/** `sous test --machine`: not yet. */
import { UsageError } from "../core/errors.js";
import type { CookbookOnDisk } from "../cookbook/repository.js";
import type { TestCommandOptions } from "./runner.js";

/** Converges each cookbook on a disposable machine twice and runs its verify/ checks. */
export async function machineTest(_root: string, _cookbooks: CookbookOnDisk[], _options: TestCommandOptions, _output: { stdout: (text: string) => void }): Promise<number> {
  throw new UsageError("sous test --machine is not available yet");
}
