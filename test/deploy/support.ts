/**
 * What the deploy tests and bench W3 share: a git repository of a small Node web application,
 * served to the fleet's hosts by `git daemon` (one `--inetd` process per connection, on the
 * fleet's gateway address and a port chosen at run time), and an infrastructure repository
 * with apps/<name>.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before } from "node:test";
import { parseTarget, SshHost } from "../../src/host/ssh.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { type CliResult, scratch, sous } from "../helpers.js";

/** Runs git in a folder; throws with its output on failure. */
export function git(cwd: string, ...args: string[]): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "Test", GIT_AUTHOR_EMAIL: "test@example.invalid", GIT_COMMITTER_NAME: "Test", GIT_COMMITTER_EMAIL: "test@example.invalid" } });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** A git server for the fleet; `url(name)` is a repository's URL as the hosts see it. */
export interface GitServer {
  url(name: string): string;
  stop(): Promise<void>;
}

/** Serves the bare repositories under `base` over git:// on `address` (the fleet's gateway). */
export async function startGitServer(base: string, address: string): Promise<GitServer> {
  const server: Server = createServer((socket) => {
    const daemon = spawn("git", ["daemon", "--inetd", "--export-all", "--log-destination=none", `--base-path=${base}`, base], { stdio: ["pipe", "pipe", "ignore"] });
    socket.pipe(daemon.stdin);
    daemon.stdout.pipe(socket);
    socket.on("error", () => daemon.kill());
    daemon.stdin.on("error", () => {});
    // On close, not exit: exit can come before the last of its output has gone through the pipe (a cut pack).
    daemon.on("close", () => socket.end());
    daemon.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: (name) => `git://${address}:${port}/${name}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The web application: answers its version on /, 200 on /health; on SIGTERM it finishes what it serves, then exits. */
const SERVER_JS = `const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const version = fs.readFileSync(path.join(__dirname, "VERSION"), "utf8").trim();
const server = http.createServer((req, res) => {
  if (req.url === "/health") return res.end("ok\\n");
  res.setHeader("x-app-version", version);
  res.end(version + "\\n");
});
server.listen(Number(process.env.PORT), process.env.HOST, () => {
  if (process.env.PID_FILE) fs.writeFileSync(process.env.PID_FILE, String(process.pid));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`;

/** A repository of the web application: a working copy and the bare repository the hosts fetch. */
export interface AppRepository {
  /** The bare repository's folder name under the git server's base. */
  name: string;
  work: string;
  /** Commits a new version (VERSION file) and pushes it; returns the commit. */
  release(version: string, extra?: Record<string, string>): string;
}

/** Makes `base/<name>` (bare) with a first commit of version `v1`. */
export function makeAppRepository(base: string, name = "app.git"): AppRepository {
  const work = join(base, `${name}.work`);
  mkdirSync(work, { recursive: true });
  git(work, "init", "-q", "-b", "main");
  writeFileSync(join(work, "server.js"), SERVER_JS);
  writeFileSync(join(work, "package.json"), `${JSON.stringify({ name: "web", version: "1.0.0", private: true, scripts: { build: "mkdir -p public && echo built > public/assets.txt" } }, null, 2)}\n`);
  const release = (version: string, extra: Record<string, string> = {}) => {
    writeFileSync(join(work, "VERSION"), `${version}\n`);
    for (const [file, content] of Object.entries(extra)) {
      mkdirSync(join(work, file, ".."), { recursive: true });
      writeFileSync(join(work, file), content);
    }
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", `version ${version}`);
    git(work, "push", "-q", join(base, name), "main");
    return git(work, "rev-parse", "HEAD");
  };
  git(base, "init", "-q", "--bare", "-b", "main", name);
  release("v1");
  return { name, work, release };
}

/** Writes an infrastructure repository with `apps/<name>.ts` holding `source`. */
export function writeAppFile(root: string, name: string, source: string): string {
  mkdirSync(join(root, "apps"), { recursive: true });
  const file = join(root, "apps", `${name}.ts`);
  writeFileSync(file, source);
  return file;
}

/** SSH flags for the fleet. */
export function fleetSsh(fleet: { keyFile: string; knownHostsFile: string }): string[] {
  return ["-k", fleet.keyFile, "--known-hosts", fleet.knownHostsFile];
}

/** Everything a deploy test file works with, filled in by its `before` hook. */
export interface DeployFixture {
  fleet: Fleet;
  git: GitServer;
  repo: AppRepository;
  /** The infrastructure repository (apps/ lives here). */
  root: string;
  /** SOUS_HOME of the test process (no server configured in it unless a test does so). */
  home: string;
  /** One open connection per fleet host, for looking at what a deploy left. */
  hosts: SshHost[];
  /** `sous ...args --repo ROOT -k KEY --known-hosts FILE`, in this process. */
  run(...args: string[]): Promise<CliResult>;
  /** The source of apps/web.ts: this repository, `hosts` (default every fleet host), deployTo /srv/web, then `extra`. */
  webApp(extra?: string, hosts?: string): string;
}

/**
 * Sets up a deploy test file: a fleet of `count` hosts, a git server with the web app's
 * repository, an infrastructure repository and a SOUS_HOME of its own, all torn down after.
 * Call at the top of the file (scratch folders made inside a hook would go when it ends).
 */
export function useDeployFixture(count: number): { skip: string | false; fixture: DeployFixture } {
  const skip = fleetUnavailable() ?? false;
  const fixture = {} as DeployFixture;
  if (skip) return { skip, fixture };
  const started = useFleet(count);
  const base = scratch("sous-deploy-git-");
  fixture.root = scratch("sous-deploy-infra-");
  fixture.home = scratch("sous-deploy-home-");
  process.env.SOUS_HOME = fixture.home;
  for (const name of ["SOUS_SERVER_URL", "SOUS_ORG", "SOUS_CLIENT", "SOUS_KEY"]) delete process.env[name];
  fixture.hosts = [];
  fixture.run = (...args) => sous(...args, "--repo", fixture.root, ...fleetSsh(fixture.fleet));
  fixture.webApp = (extra = "", hosts) => `import { app } from "sous";
export default app({
  repository: ${JSON.stringify(fixture.git.url(fixture.repo.name))},
  hosts: ${hosts ?? JSON.stringify(fixture.fleet.hosts.map((h) => h.target))},
  deployTo: "/srv/web",
  ${extra}
});
`;
  before(async () => {
    fixture.fleet = await started();
    fixture.git = await startGitServer(base, fixture.fleet.hosts[0]!.address.replace(/\.\d+$/, ".254"));
    fixture.repo = makeAppRepository(base);
    for (const host of fixture.fleet.hosts) fixture.hosts.push(await SshHost.connect(parseTarget(host.target), { identityFile: fixture.fleet.keyFile, knownHostsFile: fixture.fleet.knownHostsFile }));
  });
  after(async () => {
    // A test that ran deploys through the background SSH process (--persist) leaves it to its idle time: stopped here.
    const pidFile = join(fixture.home, "ssh", "persist.sock.pid");
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    for (const host of fixture.hosts) host.close();
    await fixture.git?.stop();
  });
  return { skip, fixture };
}
