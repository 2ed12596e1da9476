/** A small repository for push tests and the W2 benchmark: one cookbook writing files and directories under a root. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes a repository whose `w2` cookbook manages `directories` directories and `files` files under `root` on the target. */
export function writeW2Repository(dir: string, options: { files: number; directories: number; root?: string }): string {
  const root = options.root ?? "/srv/w2";
  const cookbook = join(dir, "cookbooks", "w2");
  mkdirSync(join(cookbook, "recipes"), { recursive: true });
  writeFileSync(join(dir, "sous.config.ts"), `import { config } from "sous";\n\nexport default config({ runList: ["recipe[w2]"] });\n`);
  writeFileSync(join(cookbook, "package.json"), JSON.stringify({ name: "w2", version: "1.0.0", private: true }, null, 2));
  writeFileSync(
    join(cookbook, "recipes", "default.ts"),
    `import { recipe } from "sous";

export default recipe(({ node, resources: { directory, file } }) => {
  for (let d = 0; d < ${options.directories}; d++) directory(\`${root}/d\${d}\`, { mode: "0755", recursive: true });
  for (let i = 0; i < ${options.files}; i++) {
    file(\`${root}/d\${i % ${options.directories}}/f\${i}.conf\`, { content: \`index = \${i}\\nhost = \${node.hostname}\\n\`, mode: "0644" });
  }
});
`,
  );
  return dir;
}
