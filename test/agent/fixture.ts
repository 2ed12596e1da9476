// A server with an organization, a cookbook and a registered node, for the agent's tests:
// everything through the real CLI and API, the agent's state in a temp folder.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAgentConfig } from "../../src/agent/config.js";
import { registerNode } from "../../src/agent/register.js";
import { type ReportSummary, SousClient } from "../../src/client/api.js";
import { startServer, type RunningServer } from "../../src/server/server.js";
import { sous } from "../helpers.js";

/** A running server and an administrator of its organization. */
export interface AgentFixture {
  server: RunningServer;
  home: string;
  admin: SousClient;
  org: string;
  /** Writes cookbooks/hello (its recipe writes `node.attributes.hello.path`) and uploads it. */
  uploadHello(version: string, recipeBody?: string): Promise<void>;
  /** Writes an agent configuration for `node` in a new state folder; returns its path. */
  agentConfig(node: string, extra?: Record<string, unknown>): AgentSetup;
  /** Uploads cookbook NAME 1.0.0 whose default recipe is `recipeBody` (after `import { recipe } from "sous"`). */
  uploadCookbook(name: string, recipeBody: string): Promise<void>;
  /** Creates node NAME (its hello file in `out`), registers it with a bootstrap token and writes its agent configuration. */
  newNode(name: string, out: string, runList?: string, extra?: Record<string, unknown>): Promise<AgentSetup>;
  /** The node's report summaries, newest first. */
  reports(node: string): Promise<ReportSummary[]>;
  stop(): Promise<void>;
}

/** An agent's configuration file, state folder and key. */
export interface AgentSetup {
  file: string;
  stateDir: string;
  keyFile: string;
}

/** The default hello recipe: one file whose content names the node and its greeting attribute. */
export const HELLO_RECIPE = `export default recipe(({ node, resources: { file } }) => {
  const hello = node.attributes.hello as { path: string; greeting: string };
  file(hello.path, { content: \`\${hello.greeting} from \${node.name}\\n\`, mode: "0644" });
});`;

/** Starts a server on `host` (default loopback) with organization `acme`, through `sous org create`. */
export async function startAgentFixture(options: { host?: string; port?: number; dataDir?: string; home?: string } = {}): Promise<AgentFixture> {
  // Not scratch(): a fixture made in a before hook outlives that hook; stop() removes these.
  const home = options.home ?? mkdtempSync(join(tmpdir(), "sous-agent-home-"));
  process.env.SOUS_HOME = home;
  for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];
  const server = await startServer({ dataDir: options.dataDir ?? join(home, "server"), port: options.port ?? 0, ...(options.host ? { host: options.host } : {}) });
  const created = await sous("org", "create", "acme", "--server-url", server.url);
  if (created.code !== 0) throw new Error(`sous org create: ${created.stderr}`);
  const admin = new SousClient({ serverUrl: server.url, org: "acme", client: "admin", privateKeyFile: join(home, "acme", "admin.pem") });
  const repo = mkdtempSync(join(tmpdir(), "sous-agent-repo-"));
  const made: string[] = [repo, ...(options.home ? [] : [home])];
  const fixture: AgentFixture = {
    server,
    home,
    admin,
    org: "acme",
    async uploadHello(version, recipeBody = HELLO_RECIPE) {
      const dir = join(repo, version, "hello");
      mkdirSync(join(dir, "recipes"), { recursive: true });
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "hello", version, private: true }));
      writeFileSync(join(dir, "attributes.ts"), `import { attributes } from "sous";\nexport default attributes({ hello: { path: "/tmp/hello", greeting: "hello" } });\n`);
      writeFileSync(join(dir, "recipes", "default.ts"), `import { recipe } from "sous";\n${recipeBody}\n`);
      const uploaded = await sous("cookbook", "upload", dir, "--server-url", server.url);
      if (uploaded.code !== 0) throw new Error(`sous cookbook upload: ${uploaded.stderr}`);
    },
    agentConfig(node, extra = {}) {
      const stateDir = mkdtempSync(join(tmpdir(), `sous-agent-${node}-`));
      made.push(stateDir);
      const keyFile = join(stateDir, "client.pem");
      const file = join(stateDir, "agent.json");
      writeFileSync(file, JSON.stringify({ server_url: server.url, org: "acme", node_name: node, client_key: keyFile, state_dir: join(stateDir, "state"), ...extra }));
      return { file, stateDir, keyFile };
    },
    async uploadCookbook(name, recipeBody) {
      const dir = join(repo, "other", name);
      mkdirSync(join(dir, "recipes"), { recursive: true });
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
      writeFileSync(join(dir, "recipes", "default.ts"), `import { recipe } from "sous";\n${recipeBody}\n`);
      const uploaded = await sous("cookbook", "upload", dir, "--server-url", server.url);
      if (uploaded.code !== 0) throw new Error(`sous cookbook upload: ${uploaded.stderr}`);
    },
    async newNode(name, out, runList = "recipe[hello]", extra = {}) {
      await fixture.admin.request("PUT", fixture.admin.orgPath("nodes", name), { body: { name, run_list: [runList], normal: { hello: { path: join(out, `${name}.txt`), greeting: "hi" } } } });
      const config = fixture.agentConfig(name, extra);
      await registerNode(readAgentConfig(config.file), { token: await bootstrapToken(fixture.admin) });
      return config;
    },
    async reports(node) {
      return (await fixture.admin.listReports({ node, limit: 100 })).reports;
    },
    async stop() {
      await fixture.server.close();
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** Makes a one-time bootstrap token as the administrator. */
export async function bootstrapToken(admin: SousClient, ttlSeconds = 600): Promise<string> {
  const { body } = await admin.request<{ token: string }>("POST", admin.orgPath("bootstrap-tokens"), { body: { ttl_seconds: ttlSeconds } });
  return body.token;
}

const projectRoot = join(import.meta.dirname, "..", "..");

/** What a `sous` process printed and how it ended. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Starts `sous ARGS` (bin/sous.js over dist/) as a process of its own; `done` resolves when it ends. */
export function startSous(args: readonly string[], env: NodeJS.ProcessEnv = {}): { pid: number; done: Promise<ProcessResult>; output: () => string } {
  const child = spawn(process.execPath, [join(projectRoot, "bin", "sous.js"), ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ProcessResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! }));
  });
  return { pid: child.pid!, done, output: () => stdout + stderr };
}

/** Runs `sous ARGS` to its end. */
export function runSous(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ProcessResult> {
  return startSous(args, env).done;
}
