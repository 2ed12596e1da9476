/** Helpers for cookbook and CLI tests: repositories written into scratch folders, the CLI run in-process. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { scratch } from "../helpers.js";

/** Writes `files` (path relative to the repository → content) into a new scratch repository; returns its root. */
export function writeRepo(files: Record<string, string>, root = scratch("sous-repo-")): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
  return root;
}

/** The files of a cookbook at `cookbooks/<dir>` (or any folder given): package.json plus recipes and extras. */
export function cookbook(
  name: string,
  options: { version?: string; dependencies?: Record<string, string>; recipes?: Record<string, string>; attributes?: string; files?: Record<string, string>; at?: string } = {},
): Record<string, string> {
  const at = options.at ?? `cookbooks/${name}`;
  const out: Record<string, string> = {
    [`${at}/package.json`]: JSON.stringify({ name, version: options.version ?? "1.0.0", dependencies: options.dependencies ?? {} }),
  };
  for (const [recipe, body] of Object.entries(options.recipes ?? { default: `import { recipe } from "sous";\nexport default recipe(() => {});\n` })) {
    out[`${at}/recipes/${recipe}.ts`] = body;
  }
  if (options.attributes !== undefined) out[`${at}/attributes.ts`] = options.attributes;
  for (const [path, content] of Object.entries(options.files ?? {})) out[`${at}/${path}`] = content;
  return out;
}

/** A recipe that writes `path` with `content`: enough to see that the recipe ran and in which version. */
export function fileRecipe(pathExpression: string, contentExpression: string, extra = ""): string {
  return `import { recipe } from "sous";
export default recipe(({ node, includeRecipe, resources: { file } }) => {
  ${extra}
  file(${pathExpression}, { content: ${contentExpression} });
});
`;
}

export { sous, type CliResult } from "../helpers.js";

/** Facts for loadRun in tests: enough for the node view. */
export const testFacts = { hostname: "testhost", fqdn: "testhost.example", platform: "debian", platform_family: "debian", platform_version: "12" };
