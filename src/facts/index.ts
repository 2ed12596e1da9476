/** Facts (Chef's ohai): the typed facts, how they are gathered and how their text is parsed. */
export type * from "./types.js";
export { gatherFacts } from "./gather.js";
export { gatherBasicFacts } from "./basic.js";
export { parseFacts } from "./parse.js";
export { FACTS_SCRIPT } from "./script.js";
