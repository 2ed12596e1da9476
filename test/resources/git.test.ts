import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { keyFolderPrefix, resolveRemoteRevision } from "../../src/resources/git.js";
import { convergeWith, scratch, treeDigest } from "../helpers.js";

// Test repositories never read the machine's own git configuration.
const gitEnv = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.org", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.org" };

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: gitEnv, encoding: "utf8" }).trim();
}

/** A bare repository (file:// URL) and a work tree that commits and pushes to it. */
function repository() {
  const dir = scratch("sous-git-");
  chmodSync(dir, 0o755);
  const bare = join(dir, "origin.git");
  const work = join(dir, "work");
  git(dir, "init", "--quiet", "--bare", "--initial-branch=main", bare);
  git(dir, "init", "--quiet", "--initial-branch=main", work);
  git(work, "remote", "add", "origin", bare);
  const commit = (file: string, content: string) => {
    writeFileSync(join(work, file), content);
    git(work, "add", file);
    git(work, "commit", "--quiet", "-m", `${file}: ${content.trim()}`);
    git(work, "push", "--quiet", "origin", "HEAD:main");
    return git(work, "rev-parse", "HEAD");
  };
  return { dir, bare, url: `file://${bare}`, work, commit };
}

function head(checkout: string): string {
  return git(checkout, "-c", `safe.directory=${checkout}`, "rev-parse", "HEAD");
}

test("ls-remote output resolves branches, peeled annotated tags, HEAD and commit ids", () => {
  const listing = ["a".repeat(40) + "\tHEAD", "a".repeat(40) + "\trefs/heads/main", "b".repeat(40) + "\trefs/heads/dev", "c".repeat(40) + "\trefs/tags/v1", "d".repeat(40) + "\trefs/tags/v1^{}", "e".repeat(40) + "\trefs/tags/light"].join("\n");
  assert.deepEqual(resolveRemoteRevision(listing, "HEAD"), { kind: "head", commit: "a".repeat(40) });
  assert.deepEqual(resolveRemoteRevision(`ref: refs/heads/main\tHEAD\n${listing}`, "HEAD"), { kind: "branch", commit: "a".repeat(40), branch: "main" });
  assert.deepEqual(resolveRemoteRevision(listing, "dev"), { kind: "branch", commit: "b".repeat(40), branch: "dev" });
  assert.deepEqual(resolveRemoteRevision(listing, "v1"), { kind: "tag", commit: "d".repeat(40) });
  assert.deepEqual(resolveRemoteRevision(listing, "light"), { kind: "tag", commit: "e".repeat(40) });
  assert.deepEqual(resolveRemoteRevision(listing, "refs/heads/main"), { kind: "branch", commit: "a".repeat(40), branch: "main" });
  assert.deepEqual(resolveRemoteRevision("", "f".repeat(40)), { kind: "commit", commit: "f".repeat(40) });
  assert.deepEqual(resolveRemoteRevision("", "abc1234"), { kind: "commit" });
  assert.equal(resolveRemoteRevision(listing, "no-such-branch"), undefined);
});

test("a branch is cloned, then converging again changes nothing; a new commit is synced once", async () => {
  const repo = repository();
  const first = repo.commit("README", "one\n");
  const destination = join(repo.dir, "checkout");
  const declare = ({ git }: Resources) => {
    git(destination, { repository: repo.url, revision: "main" });
  };
  const cloned = await convergeWith(declare);
  assert.equal(cloned.result.status, "converged", JSON.stringify(cloned.events.at(-1)));
  assert.deepEqual(cloned.updated, [`git[${destination}]`]);
  assert.equal(head(destination), first);
  assert.equal(readFileSync(join(destination, "README"), "utf8"), "one\n");
  assert.equal(git(destination, "-c", `safe.directory=${destination}`, "rev-parse", "--abbrev-ref", "HEAD"), "main");

  const again = await convergeWith(declare);
  assert.deepEqual(again.updated, []);
  assert.equal(again.result.counts.upToDate, 1);

  const second = repo.commit("README", "two\n");
  const synced = await convergeWith(declare);
  assert.deepEqual(synced.updated, [`git[${destination}]`]);
  const change = synced.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string; from: unknown; to: unknown }> };
  assert.deepEqual(change.changes, [{ property: "revision", from: first.slice(0, 12), to: second.slice(0, 12) }]);
  assert.equal(head(destination), second);
  assert.equal(readFileSync(join(destination, "README"), "utf8"), "two\n");
  assert.deepEqual((await convergeWith(declare)).updated, []);
});

test("an annotated tag, then a commit id (full, then abbreviated) are checked out", async () => {
  const repo = repository();
  const first = repo.commit("VERSION", "1\n");
  git(repo.work, "tag", "-a", "v1", "-m", "release 1");
  git(repo.work, "push", "--quiet", "origin", "v1");
  repo.commit("VERSION", "2\n");
  const destination = join(repo.dir, "checkout");
  const at = (revision: string) => ({ git }: Resources) => {
    git(destination, { repository: repo.url, revision });
  };
  assert.deepEqual((await convergeWith(at("v1"))).updated, [`git[${destination}]`]);
  assert.equal(readFileSync(join(destination, "VERSION"), "utf8"), "1\n");
  assert.equal(head(destination), first);
  assert.deepEqual((await convergeWith(at("v1"))).updated, []);

  const latest = git(repo.bare, "rev-parse", "main");
  assert.deepEqual((await convergeWith(at(latest))).updated, [`git[${destination}]`]);
  assert.equal(readFileSync(join(destination, "VERSION"), "utf8"), "2\n");
  assert.deepEqual((await convergeWith(at(latest))).updated, []);
  assert.deepEqual((await convergeWith(at(latest.slice(0, 10)))).updated, []);
  assert.deepEqual((await convergeWith(at(first.slice(0, 10)))).updated, [`git[${destination}]`]);
  assert.equal(head(destination), first);
});

test("a dry run reports the clone and the sync but changes nothing", async () => {
  const repo = repository();
  const first = repo.commit("README", "one\n");
  const destination = join(repo.dir, "checkout");
  const declare = ({ git }: Resources) => {
    git(destination, { repository: repo.url });
  };
  const dry = await convergeWith(declare, { dryRun: true });
  assert.deepEqual(dry.updated, [`git[${destination}]`]);
  assert.equal(existsSync(destination), false);

  await convergeWith(declare);
  assert.equal(git(destination, "-c", `safe.directory=${destination}`, "rev-parse", "--abbrev-ref", "HEAD"), "main", "the default branch is checked out as a branch");
  repo.commit("README", "two\n");
  const before = treeDigest(destination);
  const drySync = await convergeWith(declare, { dryRun: true });
  assert.deepEqual(drySync.updated, [`git[${destination}]`]);
  assert.equal(treeDigest(destination), before);
  assert.equal(head(destination), first);
});

test("the checkout belongs to its user and group, and git runs as that user", async () => {
  const repo = repository();
  repo.commit("README", "one\n");
  // A checkout made by root, handed over to the user below.
  const other = join(repo.dir, "other");
  git(repo.dir, "clone", "--quiet", repo.url, other);
  // git refuses to read a repository owned by another user: the repository is the user's too.
  execFileSync("chown", ["-R", "nobody:nogroup", repo.bare]);
  const parent = join(repo.dir, "srv");
  mkdirSync(parent);
  chownSync(parent, uid("nobody"), gid("nogroup"));
  const destination = join(parent, "app");
  const declare = ({ git }: Resources) => {
    git(destination, { repository: repo.url, user: "nobody", group: "nogroup" });
  };
  const first = await convergeWith(declare);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(statSync(join(destination, "README")).uid, uid("nobody"));
  assert.equal(statSync(join(destination, ".git", "HEAD")).gid, gid("nogroup"));
  assert.deepEqual((await convergeWith(declare)).updated, []);

  // A checkout made by someone else is handed over to the user.
  const handOver = await convergeWith(({ git }) => git(other, { repository: repo.url, user: "nobody" }));
  const changes = (handOver.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string }> }).changes;
  assert.deepEqual(changes.map((c) => c.property), ["user"]);
  assert.equal(statSync(join(other, "README")).uid, uid("nobody"));
});

test("an unknown branch fails naming the revision, and a non-empty directory is never overwritten", async () => {
  const repo = repository();
  repo.commit("README", "one\n");
  const missing = await convergeWith(({ git }) => git(join(repo.dir, "x"), { repository: repo.url, revision: "no-such-branch" }));
  assert.equal(missing.result.status, "failed");
  assert.match(JSON.stringify(missing.events.find((e) => e.type === "resource:failed")), /no branch or tag named \\"no-such-branch\\"/);

  const occupied = join(repo.dir, "occupied");
  mkdirSync(occupied);
  writeFileSync(join(occupied, "precious"), "keep me\n");
  const refused = await convergeWith(({ git }) => git(occupied, { repository: repo.url }));
  assert.equal(refused.result.status, "failed");
  assert.equal(readFileSync(join(occupied, "precious"), "utf8"), "keep me\n");
});

function uid(name: string): number {
  return Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
}

function gid(name: string): number {
  return Number(execFileSync("getent", ["group", name], { encoding: "utf8" }).split(":")[2]);
}

test("a moved repository is followed: the remote's URL changes, the checkout stays", async () => {
  const repo = repository();
  repo.commit("README", "one\n");
  const destination = join(repo.dir, "checkout");
  await convergeWith(({ git }) => git(destination, { repository: repo.url }));
  const mirror = join(repo.dir, "mirror.git");
  git(repo.dir, "clone", "--quiet", "--mirror", repo.bare, mirror);
  const moved = ({ git }: Resources) => {
    git(destination, { repository: `file://${mirror}` });
  };
  const result = await convergeWith(moved);
  assert.deepEqual(
    (result.events.find((e) => e.type === "resource:updated") as { changes: unknown[] }).changes,
    [{ property: "repository", from: repo.url, to: `file://${mirror}` }],
  );
  assert.equal(git(destination, "-c", `safe.directory=${destination}`, "remote", "get-url", "origin"), `file://${mirror}`);
  assert.deepEqual((await convergeWith(moved)).updated, []);
});

test("a shallow clone syncs new commits and reaches an older commit by id", async () => {
  const repo = repository();
  const oldest = repo.commit("N", "1\n");
  repo.commit("N", "2\n");
  const destination = join(repo.dir, "shallow");
  const at = (revision: string) => ({ git }: Resources) => {
    git(destination, { repository: repo.url, revision, depth: 1 });
  };
  const first = await convergeWith(at("main"));
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(git(destination, "-c", `safe.directory=${destination}`, "rev-parse", "--is-shallow-repository"), "true");
  assert.equal(git(destination, "-c", `safe.directory=${destination}`, "rev-list", "--count", "HEAD"), "1");
  repo.commit("N", "3\n");
  assert.equal((await convergeWith(at("main"))).updated.length, 1);
  assert.equal(readFileSync(join(destination, "N"), "utf8"), "3\n");
  assert.deepEqual((await convergeWith(at("main"))).updated, []);
  const back = await convergeWith(at(oldest));
  assert.equal(back.result.status, "converged", JSON.stringify(back.events.at(-1)));
  assert.equal(readFileSync(join(destination, "N"), "utf8"), "1\n");
  assert.deepEqual((await convergeWith(at(oldest))).updated, []);
});

test("submodules are checked out with the checkout, and again after they drift", async () => {
  const repo = repository();
  const sub = join(repo.dir, "sub.git");
  const subWork = join(repo.dir, "sub-work");
  git(repo.dir, "init", "--quiet", "--bare", "--initial-branch=main", sub);
  git(repo.dir, "init", "--quiet", "--initial-branch=main", subWork);
  writeFileSync(join(subWork, "lib.txt"), "v1\n");
  git(subWork, "add", "lib.txt");
  git(subWork, "commit", "--quiet", "-m", "lib v1");
  git(subWork, "push", "--quiet", sub, "HEAD:main");
  repo.commit("README", "app\n");
  // Git refuses file:// submodules unless told otherwise (CVE-2022-39253): tests allow it.
  const allowFile = { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "protocol.file.allow", GIT_CONFIG_VALUE_0: "always" };
  execFileSync("git", ["submodule", "add", "--quiet", `file://${sub}`, "lib"], { cwd: repo.work, env: { ...gitEnv, ...allowFile } });
  git(repo.work, "commit", "--quiet", "-m", "add lib");
  git(repo.work, "push", "--quiet", "origin", "HEAD:main");

  const destination = join(repo.dir, "checkout");
  const declare = ({ git }: Resources) => {
    git(destination, { repository: repo.url, submodules: true, environment: allowFile });
  };
  const first = await convergeWith(declare);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(readFileSync(join(destination, "lib", "lib.txt"), "utf8"), "v1\n");
  assert.deepEqual((await convergeWith(declare)).updated, []);

  execFileSync("git", ["-c", `safe.directory=*`, "submodule", "deinit", "--quiet", "--force", "lib"], { cwd: destination, env: gitEnv });
  assert.equal(existsSync(join(destination, "lib", "lib.txt")), false);
  const restored = await convergeWith(declare);
  assert.deepEqual((restored.events.find((e) => e.type === "resource:updated") as { changes: Array<{ property: string }> }).changes.map((c) => c.property), ["submodules"]);
  assert.equal(readFileSync(join(destination, "lib", "lib.txt"), "utf8"), "v1\n");
  assert.deepEqual((await convergeWith(declare)).updated, []);
});

test("a deploy key reaches an SSH repository, accepted host keys are enforced, and the key never shows", async (t) => {
  const repo = repository();
  const commit = repo.commit("README", "over ssh\n");
  const keys = join(repo.dir, "keys");
  mkdirSync(keys, { mode: 0o700 });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keys, "host"), "-C", "host"]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keys, "deploy"), "-C", "deploy"]);
  writeFileSync(join(keys, "authorized_keys"), readFileSync(join(keys, "deploy.pub")));
  const port = await freePort();
  writeFileSync(
    join(keys, "sshd_config"),
    [`ListenAddress 127.0.0.1`, `Port ${port}`, `HostKey ${join(keys, "host")}`, `AuthorizedKeysFile ${join(keys, "authorized_keys")}`, "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "PidFile none", ""].join("\n"),
  );
  // sshd needs /run/sshd: a tmpfs /run in a mount namespace of its own leaves the machine's alone.
  const sshd = spawn("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", `mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -f ${join(keys, "sshd_config")}`], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => sshd.kill("SIGTERM"));
  await new Promise<void>((resolve, reject) => {
    let log = "";
    sshd.stderr.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Server listening")) resolve();
    });
    sshd.on("exit", (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
  });

  const deployKey = readFileSync(join(keys, "deploy"), "utf8");
  const knownHosts = `[127.0.0.1]:${port} ${readFileSync(join(keys, "host.pub"), "utf8")}`;
  const url = `ssh://root@127.0.0.1:${port}${repo.bare}`;
  const destination = join(repo.dir, "checkout");
  const tempsBefore = readdirSync("/tmp").filter((name) => name.startsWith("sous-git."));

  const wrongHost = await convergeWith(({ git }) => git(destination, { repository: url, deployKey, knownHosts: `[127.0.0.1]:${port} ${readFileSync(join(keys, "deploy.pub"), "utf8")}` }));
  assert.equal(wrongHost.result.status, "failed");
  assert.match(JSON.stringify(wrongHost.events), /Host key verification failed/);

  const declare = ({ git }: Resources) => {
    git(destination, { repository: url, deployKey, knownHosts });
  };
  // A run killed while git ran leaves its key folder: the next run of this checkout removes it, and only it.
  const killedRun = join("/tmp", `${keyFolderPrefix(destination)}Kill3dRun0`);
  const otherCheckout = join("/tmp", `${keyFolderPrefix(`${destination}-other`)}Kill3dRun0`);
  const otherName = join("/tmp", `${keyFolderPrefix(destination)}notatemp`);
  for (const folder of [killedRun, otherCheckout, otherName]) mkdirSync(folder);
  writeFileSync(join(killedRun, "key"), deployKey, { mode: 0o600 });
  let first: Awaited<ReturnType<typeof convergeWith>>;
  try {
    first = await convergeWith(declare);
    assert.equal(existsSync(killedRun), false, "the killed run's key folder is removed");
    assert.ok(existsSync(otherCheckout) && existsSync(otherName), "another checkout's folder and a folder of another name stay");
  } finally {
    for (const folder of [killedRun, otherCheckout, otherName]) rmSync(folder, { recursive: true, force: true });
  }
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(head(destination), commit);
  assert.deepEqual((await convergeWith(declare)).updated, []);
  const secretLine = deployKey.split("\n")[1]!;
  assert.ok(!JSON.stringify([...first.events, ...wrongHost.events]).includes(secretLine), "the key appears in events");
  assert.deepEqual(readdirSync("/tmp").filter((name) => name.startsWith("sous-git.")), tempsBefore, "a key file was left behind");
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as AddressInfo;
      server.close(() => resolve(address.port));
    });
    server.on("error", reject);
  });
}
