/** `sous facts`: this machine's facts as JSON, what recipes read as automatic attributes. */
import { factAt, localFacts } from "../run/facts.js";
import type { Output } from "./converge.js";

/** Prints all facts, or only the named attributes, and returns the exit code (1 when one is missing). */
export async function factsCommand(attributes: readonly string[], output: Output): Promise<number> {
  const facts = await localFacts();
  if (attributes.length === 0) {
    output.stdout(`${JSON.stringify(facts, null, 2)}\n`);
    return 0;
  }
  let missing = 0;
  for (const path of attributes) {
    const value = factAt(facts, path);
    if (value === undefined) {
      output.stderr(`sous facts: no attribute ${path}\n`);
      missing++;
    } else output.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }
  return missing ? 1 : 0;
}
