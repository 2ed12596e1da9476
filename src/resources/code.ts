/** `code`: a TypeScript function as a resource (Chef's ruby_block), with the engine's guards. */
import { prop } from "../core/properties.js";
import type { ResourceType } from "../core/resource.js";
import type { Host } from "../host/host.js";

/** Actions of `code`. */
export type CodeAction = "run" | "nothing";

/** What a code block receives. */
export interface CodeContext {
  host: Host;
  log(message: string): void;
}

/** What a recipe writes for `code`. */
export interface CodeInput {
  /** The function to run at converge time. */
  block: (context: CodeContext) => void | Promise<void>;
}

interface CodeProperties {
  name: string;
  block: (context: CodeContext) => void | Promise<void>;
}

/** The `code` resource type. */
export const codeType: ResourceType<CodeProperties, null> = {
  name: "code",
  description: "A function run at converge time (guards decide when); always reports an update when it runs.",
  actions: ["run", "nothing"],
  defaultAction: "run",
  identity: "name",
  properties: {
    name: prop.string({ role: "identity", nonEmpty: true }),
    block: prop.func({ required: true }),
  },
  provider: {
    async read() {
      return null;
    },
    plan() {
      return { changes: [{ property: "block", from: undefined, to: "run" }] };
    },
    async apply(context, _plan, properties) {
      await properties.block({ host: context.host, log: context.log });
    },
  },
};
