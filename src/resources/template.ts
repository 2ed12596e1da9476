/** `template`: a file rendered from an ERB-like template (EJS) with typed variables. */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type CommonProperties, declaredAs, defineType, type ProviderContext, type ResourceRef } from "../core/resource.js";
import { applyManagedFile, type ManagedFileCurrent, planManagedFile, readManagedFile, managedFileProperties } from "./managed-file.js";
import { sha256 } from "./metadata.js";
import { pathRequirements } from "../core/preconditions.js";

const properties = {
  /** Absolute path of the rendered file (defaults to the resource name). */
  path: prop.absolutePath({ role: "identity" }),
  /** Template file in the cookbook's `templates/` folder. */
  source: prop.string({ nonEmpty: true }),
  /** The template text itself, instead of a source file. */
  inline: prop.string(),
  /** Variables the template reads by name (`<%= port %>`). */
  variables: prop.object({ default: () => ({}) }),
  ...managedFileProperties,
};

/** What a recipe writes for `template` (derived from its property specs; `V` types the variables). */
export type TemplateInput<V extends object = Record<string, unknown>> = Omit<InputOf<typeof properties>, "variables"> & {
  /** Variables the template reads by name (`<%= port %>`). */
  variables?: V;
};

type TemplateProperties = OutputOf<typeof properties>;

const actions = ["create", "create_if_missing", "delete", "nothing"] as const;

/** Actions of `template`. */
export type TemplateAction = (typeof actions)[number];

type Renderer = (locals: Record<string, unknown>) => string;

const compiled = new Map<string, Renderer>();
let ejsLibrary: typeof import("ejs") | undefined;

/** Loads the template engine on first use, so runs without templates never pay for it. */
async function loadEjs(): Promise<typeof import("ejs")> {
  ejsLibrary ??= (await import("ejs")).default as unknown as typeof import("ejs");
  return ejsLibrary;
}

/**
 * How `<%= value %>` prints: as text, never HTML-escaped (these are configuration files).
 * `undefined` is refused: it is almost always a misspelled variable or attribute, and a
 * config file saying "listen undefined" is worse than a failed run.
 */
function printValue(value: unknown): string {
  if (value === undefined) throw new Error("<%= %> printed undefined: a misspelled variable or attribute? (print \"\" explicitly for an empty value)");
  return String(value);
}

/** A compile error without EJS's own advice, with a hint for ERB habits. */
function syntaxMessage(text: string, message: string): string {
  const clean = message
    .split("\n")
    .filter((line) => !/EJS-Lint|async: true|^\s*$/.test(line))
    .join("\n");
  const lines = text.split("\n");
  const erbStyle = lines.findIndex((line) => /<%[=-]?\s*@\w/.test(line));
  if (erbStyle >= 0) return `${clean}; line ${erbStyle + 1} uses ERB's @name: write <%= name %> (variables are read by name)`;
  const opened = (text.match(/<%/g) ?? []).length;
  const closed = (text.match(/%>/g) ?? []).length;
  if (opened !== closed) return `${clean}; the template opens ${opened} tags (<%) and closes ${closed} (%>)`;
  return `${clean} (look for an unclosed { or ( inside <% %>)`;
}

/** Compiles a template once per distinct text (renders are pure functions of the text). */
function compile(ejs: typeof import("ejs"), text: string, filename: string): Renderer {
  const key = `${filename}\u0000${sha256(text)}`;
  let renderer = compiled.get(key);
  if (!renderer) {
    try {
      renderer = ejs.compile(text, { filename, escape: printValue, compileDebug: true, async: false }) as Renderer;
    } catch (error) {
      throw new SousError("template-syntax", `template ${filename}: ${syntaxMessage(text, (error as Error).message)}`);
    }
    compiled.set(key, renderer);
  }
  return renderer;
}

/** Renders template text with variables; errors name the template file and line. */
export async function renderTemplate(text: string, filename: string, variables: Record<string, unknown>): Promise<string> {
  const render = compile(await loadEjs(), text, filename);
  try {
    return render(variables);
  } catch (error) {
    const message = (error as Error).message.replace(/^ejs:/, `${filename}:`);
    throw new SousError("template-render", `template ${message.startsWith(filename) ? "" : `${filename}: `}${message}`);
  }
}

/** Renders the resource's template (a cookbook file or inline text) with its variables. */
async function render(context: ProviderContext, properties: TemplateProperties): Promise<Buffer> {
  let text: string;
  let filename: string;
  if (properties.inline !== undefined) {
    text = properties.inline;
    filename = `${context.resource.id} (inline)`;
  } else {
    const file = await context.cookbookFile("templates", properties.source!);
    text = file.content.toString("utf8");
    filename = file.path;
  }
  return Buffer.from(await renderTemplate(text, filename, properties.variables), "utf8");
}

/** The `template` resource type. */
export const templateType = defineType({
  name: "template",
  description: "A file rendered from an ERB-like template with variables (EJS syntax: <%= %>, <% %>, -%>).",
  actions,
  defaultAction: "create",
  // Templates always see the node: `<%= node.name %>` needs no variable of its own.
  prepareDeclaration: (name, properties, { node }) => ({ name: name as string, properties: { ...properties, variables: { node, ...((properties.variables as object | undefined) ?? {}) } } }),
  identity: "path",
  // The variables' type is the recipe's to give: `template<{ port: number }>(path, { ... })`.
  declaration: declaredAs<<V extends object = Record<string, unknown>>(path: string, properties: TemplateInput<V> & CommonProperties<TemplateAction>) => ResourceRef>(),
  properties,
  validate(properties, actions) {
    if (actions.includes("delete")) return [];
    if (properties.source === undefined && properties.inline === undefined) return [["source", "give a template: source (a file in the cookbook's templates/) or inline text"]];
    if (properties.source !== undefined && properties.inline !== undefined) return [["inline", "give either source or inline, not both"]];
    return [];
  },
  // The real run needs the owner, the group and the directory the file goes in.
  requires: (properties, action) => (action === "delete" ? [] : pathRequirements(properties, { parent: true })),
  provider: {
    // Rendering happens before anything changes, so a template mistake never leaves a half-converged machine.
    async prepare(context, properties, actions) {
      return actions.some((a) => a === "create" || a === "create_if_missing") ? render(context, properties) : undefined;
    },
    async read(context, properties, action): Promise<ManagedFileCurrent> {
      if (action === "delete") return readManagedFile(context, properties, undefined);
      const rendered = Buffer.isBuffer(context.prepared) ? context.prepared : await render(context, properties);
      return readManagedFile(context, properties, rendered);
    },
    plan: planManagedFile,
    apply: applyManagedFile,
  },
});
