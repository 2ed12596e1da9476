/** `code`: a TypeScript function as a resource (Chef's ruby_block), with the engine's guards. */
import { type InputOf, prop } from "../core/properties.js";
import { defineType } from "../core/resource.js";
import type { Host } from "../host/host.js";

/** Actions of `code`. */
export type CodeAction = (typeof codeType.actions)[number];

/** What a code block receives. */
export interface CodeContext {
  host: Host;
  log(message: string): void;
}

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** The function to run at converge time. */
  block: prop.func<(context: CodeContext) => void | Promise<void>, { required: true }>({ required: true }),
};

/** What a recipe writes for `code` (derived from its property specs). */
export type CodeInput = InputOf<typeof properties>;

/** The `code` resource type. */
export const codeType = defineType({
  name: "code",
  description: "A function run at converge time (guards decide when); always reports an update when it runs.",
  actions: ["run", "nothing"],
  defaultAction: "run",
  identity: "name",
  properties,
  provider: {
    async read(): Promise<null> {
      return null;
    },
    plan() {
      return { changes: [{ property: "block", from: undefined, to: "run" }] };
    },
    async apply(context, _plan, properties) {
      await properties.block({ host: context.host, log: context.log });
    },
  },
});
