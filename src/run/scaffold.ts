/** `sous init` and `sous cookbook create`: repositories and cookbooks that converge out of the box. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MACHINE_TSCONFIG, writeMachineTsconfig } from "../cookbook/editor-config.js";
import { UsageError } from "../core/errors.js";
import { findRepositoryRoot } from "../cookbook/root.js";
import { checkAppName } from "../deploy/load.js";

function writeNew(path: string, content: string, created: string[]): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  created.push(path);
}

/** The files of a new cookbook, keyed by path relative to the cookbook. */
export function cookbookFiles(name: string): Record<string, string> {
  // An identifier, so recipes can write node.attributes.KEY (a digit cannot start one).
  const attributeKey = name.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(?=[0-9])/, "_");
  return {
    "package.json": `${JSON.stringify({ name, version: "0.1.0", description: `The ${name} cookbook`, private: true, dependencies: {} }, null, 2)}\n`,
    "attributes.ts": `import { homedir } from "node:os";
import { attributes } from "sous";

/** Default attributes of ${name}; roles, environments and nodes override them. */
export default attributes({
  ${attributeKey}: {
    /** Where this cookbook writes: the home of whoever converges (not a folder shared by every user of the machine). */
    root: \`\${homedir()}/sous-${name}\`,
    greeting: "Hello from ${name}",
  },
});
`,
    "recipes/default.ts": `import { recipe } from "sous";
import type defaults from "../attributes.js";

export default recipe<typeof defaults>(({ node, resources: { directory, template, execute } }) => {
  const settings = node.attributes.${attributeKey};

  directory(settings.root, { mode: "0755", recursive: true });

  // Re-runs the "reload" command at the end of the run whenever the file changes.
  template(\`\${settings.root}/motd\`, {
    source: "motd.ejs",
    mode: "0644",
    variables: { greeting: settings.greeting, nodeName: node.name },
    notifies: { run: "execute[${name}-reload]" },
  });

  execute("${name}-reload", {
    command: ["sh", "-c", \`date > \${settings.root}/reloaded-at\`],
    action: "nothing",
  });
});
`,
    "templates/motd.ejs": `<%= greeting %>, <%= nodeName %>!
This file is managed by Sous: changes made by hand are overwritten.
`,
    "files/.keep": "",
    "test/default.test.ts": `// In-memory tests (no machine is touched): sous test ${name}
import { test } from "node:test";
import { converge, expect } from "sous/testing";

test("${name}::default writes the motd from its template, and reloads when it changes", async () => {
  // Attributes as a node would have them (here: where to write), facts of a Debian 12 machine named test.example.
  const run = await converge({ runList: "recipe[${name}]", attributes: { ${attributeKey}: { root: "/srv/${name}" } } });
  expect(run).toHaveResource("directory[/srv/${name}]", { mode: "0755" });
  expect(run).toHaveResource("template[/srv/${name}/motd]", { mode: "0644" });
  expect(run).toRender("template[/srv/${name}/motd]", "Hello from ${name}, test.example!\\nThis file is managed by Sous: changes made by hand are overwritten.\\n");
  expect(run).toNotify("template[/srv/${name}/motd]", "run", "execute[${name}-reload]");
});
`,
    "verify/default.ts": `// Checks on a real machine after two converges: sous test ${name} --machine
import { test } from "node:test";
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { command, file } from "sous/verify";

// attributes.ts's default root: the home of whoever converges (root, on the test machine).
const root = \`\${homedir()}/sous-${name}\`;

test("the motd is written, readable by everyone", async () => {
  const motd = await file(\`\${root}/motd\`);
  assert.equal(motd.exists, true);
  assert.equal(motd.mode, "0644");
  assert.match(await motd.content(), /^Hello from ${name}, /);
});

test("the reload ran", async () => {
  assert.equal((await command(["test", "-s", \`\${root}/reloaded-at\`])).exitCode, 0);
});
`,
    "README.md": `# ${name}\n\nA Sous cookbook. Converge it with \`sous converge -r 'recipe[${name}]'\`.\n`,
  };
}

/** Creates cookbooks/NAME in a repository; returns the files created. */
export function createCookbook(root: string, name: string): string[] {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new UsageError(`cookbook name ${JSON.stringify(name)} may hold only letters, digits, _ . and -`);
  if (!existsSync(root)) throw new UsageError(`repository ${root} does not exist (create one with \`sous init ${root}\`)`);
  const dir = join(root, "cookbooks", name);
  if (existsSync(dir)) throw new UsageError(`${dir} already exists`);
  const created: string[] = [];
  for (const [file, content] of Object.entries(cookbookFiles(name))) writeNew(join(dir, file), content, created);
  return created;
}

/** Scaffolds a repository at `root`; existing files are left alone. */
export function initRepository(root: string): string[] {
  const created: string[] = [];
  writeNew(
    join(root, "sous.config.ts"),
    `import { config } from "sous";

export default config({
  // What \`sous converge\` runs when no --run-list is given.
  runList: ["role[base]"],
  environment: "development",
  // Previous versions of changed files are kept here.
  backupDir: ".sous/backup",
});
`,
    created,
  );
  writeNew(
    join(root, "roles", "base.ts"),
    `import { role } from "sous";

export default role({
  description: "What every node runs",
  runList: ["recipe[hello]"],
  defaultAttributes: {},
});
`,
    created,
  );
  writeNew(
    join(root, "environments", "development.ts"),
    `import { environment } from "sous";

export default environment({
  description: "Workstations and test machines",
  cookbookVersions: {},
  defaultAttributes: {},
});
`,
    created,
  );
  writeEditorConfig(root, created);
  mkdirSync(join(root, "data_bags"), { recursive: true });
  if (!existsSync(join(root, "cookbooks", "hello"))) created.push(...createCookbook(root, "hello"));
  return created;
}

/**
 * What an editor needs to type-check a repository's files (recipes, roles, apps): tsconfig.json
 * when there is none (no machine path in it: where this machine's Sous and Node types are is in
 * .sous/tsconfig.json, ignored by git, written now and again by check and converge), and a .gitignore.
 */
function writeEditorConfig(root: string, created: string[]): void {
  writeNew(
    join(root, "tsconfig.json"),
    `// The paths of Sous and Node's types on this machine are in ${MACHINE_TSCONFIG}, which sous init,
// sous cookbook check and sous converge write (it is not committed): after cloning, run one of them.
${JSON.stringify(
      {
        extends: `./${MACHINE_TSCONFIG}`,
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        include: ["sous.config.ts", "cookbooks/**/*.ts", "roles/**/*.ts", "environments/**/*.ts", "apps/**/*.ts", ".sous/resource-types.d.ts", ".sous/attribute-types.d.ts"],
      },
      null,
      2,
    )}\n`,
    created,
  );
  writeMachineTsconfig(root);
  writeNew(join(root, ".gitignore"), ".sous/\nnode_modules/\n", created);
}

/** What `sous deploy init` fills in; the rest of apps/<name>.ts is commented-out examples. */
export interface AppScaffold {
  repository?: string;
  hosts?: string[];
  deployTo?: string;
}

/** The source of a new apps/<name>.ts: the settings every app needs, then the others as comments. */
export function appSource(name: string, settings: AppScaffold = {}): string {
  const deployTo = settings.deployTo ?? `/srv/${name}`;
  const hosts = settings.hosts?.length ? settings.hosts : [`ssh://deploy@${name}1.example.com`];
  return `// How ${name} is deployed: sous deploy ${name} (--dry-run first). Every setting is typed.
import { app } from "sous";

export default app({
  repository: ${JSON.stringify(settings.repository ?? `https://git.example.com/acme/${name}.git`)},
  revision: "main", // branch, tag or commit; --revision overrides
  hosts: [
${hosts.map((h) => `    ${JSON.stringify(h)},`).join("\n")}
    // { target: "ssh://deploy@db1", roles: ["app", "db"], primary: true },  // migrations run on the primary db host
    // { inventory: "inventory/${name}.txt", roles: ["app", "web"] },
  ],
  deployTo: ${JSON.stringify(deployTo)},
  // Kept across releases in ${deployTo}/shared/ and linked into each release.
  linkedDirs: ["log", "tmp"],
  // linkedFiles: [".env"],               // must exist in ${deployTo}/shared/ before the first deploy
  keepReleases: 5,
  environment: { NODE_ENV: "production" },
  // build: async ({ run }) => void (await run(["npm", "ci", "--omit=dev"])),
  // migrate: async ({ run }) => void (await run(["npm", "run", "migrate"])),
  // restart: async ({ run }) => void (await run(["sudo", "systemctl", "restart", ${JSON.stringify(name)}])),
  // healthCheck: { url: "http://{host}:3000/health", timeoutMs: 2000, retries: 20, intervalMs: 250 },
  // batch: "50%",                        // hosts switched at once, each batch health-checked before the next
  // stages: { staging: { hosts: ["ssh://deploy@staging1"], revision: "develop" } },
});
`;
}

/**
 * Writes apps/<name>.ts in `repo`, or else in the current folder when it has apps/ or is no
 * repository's, or else in the nearest repository; refuses to replace one that exists. Also the editor's configuration where there is none. Returns the files made, apps/<name>.ts first.
 */
export function initApp(repo: string | undefined, name: string, settings: AppScaffold = {}, cwd = process.cwd()): string[] {
  const root = repo !== undefined ? resolve(repo) : existsSync(join(cwd, "apps")) ? cwd : (findRepositoryRoot(cwd) ?? cwd);
  checkAppName(name);
  const file = join(root, "apps", `${name}.ts`);
  if (existsSync(file)) throw new UsageError(`${file} exists already: edit it, or pick another name`);
  if (settings.deployTo !== undefined && (!settings.deployTo.startsWith("/") || settings.deployTo === "/")) throw new UsageError(`--deploy-to must be an absolute path other than /, got ${JSON.stringify(settings.deployTo)}`);
  const created: string[] = [];
  writeNew(file, appSource(name, settings), created);
  // Typed in the editor as it is in sous deploy: a folder of apps alone gets the same configuration as a repository.
  writeEditorConfig(root, created);
  return created;
}
