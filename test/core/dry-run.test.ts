/**
 * Dry run: every resource type with changes pending leaves the whole scratch tree (backups
 * included) byte-identical, the events say what would change with unified diffs for content,
 * and sensitive values appear in no event.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { convergeWith, eventsOf, scratch, serveHttp, treeDigest } from "../helpers.js";

const SECRET = "s3cr3t-Value-4417";

test("a dry run of every resource type changes nothing, reports every pending change, diffs content and hides secrets", async () => {
  const root = scratch();
  const tree = join(root, "tree");
  const cookbook = join(root, "cookbook");
  const backupDir = join(root, "backups");
  mkdirSync(join(cookbook, "templates"), { recursive: true });
  mkdirSync(join(cookbook, "files"), { recursive: true });
  writeFileSync(join(cookbook, "templates", "app.ini.ejs"), "[app]\nport = <%= port %>\n");
  writeFileSync(join(cookbook, "files", "motd"), "welcome\n");
  mkdirSync(join(tree, "old-dir", "inner"), { recursive: true });
  mkdirSync(join(tree, "mode-dir"), { mode: 0o755 });
  writeFileSync(join(tree, "old-dir", "inner", "f"), "x");
  writeFileSync(join(tree, "changed.txt"), "old line\nkeep\n");
  writeFileSync(join(tree, "secret.conf"), `password=old-${SECRET}\n`);
  writeFileSync(join(tree, "mode.txt"), "same\n", { mode: 0o644 });
  writeFileSync(join(tree, "gone.txt"), "bye\n");
  writeFileSync(join(tree, "touched.txt"), "t\n");
  writeFileSync(join(tree, "app.ini"), "[app]\nport = 80\n");
  writeFileSync(join(tree, "download.bin"), "stale");
  symlinkSync("elsewhere", join(tree, "wrong-link"));
  chmodSync(join(tree, "mode.txt"), 0o644);

  const fresh = Buffer.from("fresh download\n");
  const server = await serveHttp({ "/fresh.bin": fresh, "/new.bin": "new file\n" });
  const freshSum = createHash("sha256").update(fresh).digest("hex");

  const declare = ({ file, directory, link, template, remoteFile, execute, code }: Resources) => {
    file(join(tree, "changed.txt"), { content: "new line\nkeep\n" });
    file(join(tree, "new.txt"), { content: "fresh\n", mode: "0640" });
    file(join(tree, "secret.conf"), { content: `password=${SECRET}\n`, sensitive: true });
    file(join(tree, "mode.txt"), { mode: "0600", owner: "nobody", group: 65534 });
    file(join(tree, "gone.txt"), { action: "delete" });
    file(join(tree, "touched.txt"), { action: "touch" });
    file(join(tree, "motd"), { source: "motd" });
    file(join(tree, "if-missing.txt"), { action: "create_if_missing", content: "first\n" });
    directory(join(tree, "new-dir", "deep"), { recursive: true, mode: "0750" });
    directory(join(tree, "old-dir"), { action: "delete", recursive: true });
    directory(join(tree, "mode-dir"), { mode: "0700", owner: "nobody" });
    link(join(tree, "new-link"), { to: "changed.txt" });
    link(join(tree, "wrong-link"), { to: "changed.txt" });
    link(join(tree, "hard-link"), { to: join(tree, "changed.txt"), linkType: "hard" });
    template(join(tree, "app.ini"), { source: "app.ini.ejs", variables: { port: 8080 } });
    template(join(tree, "secret.ini"), { inline: "password=<%= password %>\n", variables: { password: SECRET }, sensitive: true });
    remoteFile(join(tree, "download.bin"), { source: `${server.url}/fresh.bin`, checksum: freshSum });
    remoteFile(join(tree, "new.bin"), { source: `${server.url}/new.bin` });
    execute("make a marker", { command: `touch '${join(tree, "ran-shell")}'` });
    execute("secret command", { command: ["sh", "-c", `echo ${SECRET} > '${join(tree, "ran-argv")}'`], sensitive: true });
    code("write from code", { block: () => writeFileSync(join(tree, "ran-code"), "x") });
  };

  const before = treeDigest(root);
  const { events, result } = await convergeWith(declare, { dryRun: true, cookbookDir: cookbook, backupDir });
  assert.equal(treeDigest(root), before, "the dry run changed the scratch tree");
  assert.equal(result.status, "converged", JSON.stringify(eventsOf(events, "resource:failed")));

  const updated = eventsOf(events, "resource:updated");
  assert.equal(updated.length, 21, `every resource has a pending change: ${updated.map((e) => e.resource.id).join(", ")}`);
  assert.ok(updated.every((e) => e.dryRun));
  assert.equal(result.counts.updated, 21);
  const byId = new Map(updated.map((e) => [e.resource.id, e]));

  const changed = byId.get(`file[${join(tree, "changed.txt")}]`)!;
  assert.match(changed.diff ?? "", /^-old line$/m);
  assert.match(changed.diff ?? "", /^\+new line$/m);
  assert.match(changed.diff ?? "", /^ keep$/m);
  assert.match(byId.get(`file[${join(tree, "new.txt")}]`)!.diff ?? "", /^\+fresh$/m);
  assert.match(byId.get(`template[${join(tree, "app.ini")}]`)!.diff ?? "", /^-port = 80\n\+port = 8080$/m);
  assert.deepEqual(
    byId.get(`file[${join(tree, "mode.txt")}]`)!.changes.map((c) => [c.property, c.from, c.to]),
    [
      ["mode", "0644", "0600"],
      ["owner", "root", "nobody"],
      ["group", "root", 65534],
    ],
  );
  assert.deepEqual(byId.get(`file[${join(tree, "gone.txt")}]`)!.changes, [{ property: "exists", from: true, to: false }]);
  assert.deepEqual(byId.get(`link[${join(tree, "wrong-link")}]`)!.changes[0], { property: "to", from: "elsewhere", to: "changed.txt" });
  assert.match(JSON.stringify(byId.get(`execute[make a marker]`)!.changes), /ran-shell/);
  assert.equal(byId.get(`file[${join(tree, "secret.conf")}]`)!.diff, "(diff hidden: sensitive)");

  const everything = JSON.stringify(events);
  assert.ok(!everything.includes(SECRET), "a sensitive value appears in the events");
  assert.ok(!everything.includes(SECRET.toLowerCase()));

  // The same declarations really converge: the changes were pending, not imagined.
  const real = await convergeWith(declare, { cookbookDir: cookbook, backupDir });
  assert.equal(real.result.status, "converged", JSON.stringify(eventsOf(real.events, "resource:failed")));
  assert.notEqual(treeDigest(root), before);
  assert.equal(real.result.counts.updated, 21);
});

test("sensitive values appear in no event when a sensitive resource fails or retries", async () => {
  const dir = scratch();
  const { events, result } = await convergeWith(({ execute }) => {
    execute("leaky", {
      command: ["sh", "-c", `echo "token ${SECRET}" >&2; exit 1`],
      environment: { TOKEN: `env-${SECRET}` },
      cwd: dir,
      sensitive: true,
      retries: 1,
      retryDelay: 0,
    });
  });
  assert.equal(result.status, "failed");
  const failed = eventsOf(events, "resource:failed")[0]!;
  assert.equal(failed.error.exitCode, 1, "the failure still says how the command ended");
  assert.ok(eventsOf(events, "resource:retry").length === 1);
  assert.ok(!JSON.stringify(events).includes(SECRET), JSON.stringify(events, null, 1));
});

test("a sensitive template's variables appear in no event when rendering fails", async () => {
  const dir = scratch();
  const { events, result } = await convergeWith(({ template }) => {
    template(join(dir, "t"), { inline: `<%= password %>\n<%= missing %>\n`, variables: { password: SECRET }, sensitive: true, ignoreFailure: true });
    template(join(dir, "u"), { inline: `password=${SECRET}\n<%= missing %>\n`, sensitive: true, ignoreFailure: true });
  });
  assert.equal(result.counts.failed, 2);
  assert.ok(!JSON.stringify(events).includes(SECRET), JSON.stringify(events, null, 1));
});

test("in a dry run, notified resources are reported as what would run, and nothing runs", async () => {
  const dir = scratch();
  const marker = join(dir, "reloaded");
  const conf = join(dir, "app.conf");
  writeFileSync(conf, "old\n");
  const before = treeDigest(dir);
  const { events } = await convergeWith(
    ({ file, execute }) => {
      const reload = execute("reload", { command: ["touch", marker], action: "nothing" });
      const restart = execute("restart", { command: ["touch", `${marker}-now`], action: "nothing" });
      file(conf, { content: "new\n", notifies: [{ action: "run", target: reload }, { action: "run", target: restart, timing: "immediately" }] });
    },
    { dryRun: true },
  );
  assert.equal(treeDigest(dir), before);
  const updated = eventsOf(events, "resource:updated");
  assert.deepEqual(
    updated.map((e) => [e.resource.id, e.dryRun, e.notifiedBy]),
    [
      [`file[${conf}]`, true, undefined],
      ["execute[restart]", true, `file[${conf}]`],
      ["execute[reload]", true, `file[${conf}]`],
    ],
  );
});

test("a dry run refuses what the real run would: a missing owner and group, parent directory, cwd and command, each resource with every problem; nothing changes", async () => {
  const root = scratch();
  const before = treeDigest(root);
  const { events, result } = await convergeWith(
    ({ file, directory, execute }) => {
      file(join(root, "owned"), { content: "x", owner: "sous-no-such-user", group: "sous-no-such-group" });
      directory(join(root, "missing", "sub"));
      file(join(root, "missing-too", "f"), { content: "x" });
      execute("tool", { command: ["sous-no-such-command", "--version"] });
      execute("elsewhere", { command: ["true"], cwd: join(root, "nowhere") });
      file(join(root, "fine"), { content: "x" });
    },
    { dryRun: true },
  );
  assert.equal(treeDigest(root), before);
  assert.equal(result.status, "failed");
  const failed = new Map(eventsOf(events, "resource:failed").map((e) => [e.resource.id, e.error.message]));
  assert.equal(failed.size, 5, [...failed.keys()].join(", "));
  const owned = failed.get(`file[${join(root, "owned")}]`)!;
  assert.match(owned, /owner "sous-no-such-user": no such user/);
  assert.match(owned, /group "sous-no-such-group": no such group/);
  assert.match(failed.get(`directory[${join(root, "missing", "sub")}]`)!, /directory .*missing does not exist/);
  assert.match(failed.get(`file[${join(root, "missing-too", "f")}]`)!, /directory .*missing-too does not exist/);
  assert.match(failed.get("execute[tool]")!, /command sous-no-such-command not found/);
  assert.match(failed.get("execute[elsewhere]")!, /cwd: directory .*nowhere does not exist/);
  assert.deepEqual(eventsOf(events, "resource:updated").map((e) => e.resource.id), [`file[${join(root, "fine")}]`]);
});

test("a dry run says which earlier resource of the run would create the user, group, directory or command a later one needs", async () => {
  const root = scratch();
  const { events, result } = await convergeWith(
    ({ user, directory, file, execute }) => {
      user("sous-dry-deploy", { home: join(root, "home") });
      directory(join(root, "app", "conf"), { recursive: true });
      file(join(root, "app", "conf", "app.ini"), { content: "x", owner: "sous-dry-deploy", group: "sous-dry-deploy" });
      execute("install the tool", { command: ["true"] });
      execute("use the tool", { command: ["sous-dry-tool"], user: "sous-dry-deploy" });
    },
    { dryRun: true },
  );
  assert.equal(result.status, "converged", JSON.stringify(eventsOf(events, "resource:failed")));
  const assumptions = new Map(eventsOf(events, "resource:updated").map((e) => [e.resource.id, e.assumptions ?? []]));
  const ini = assumptions.get(`file[${join(root, "app", "conf", "app.ini")}]`)!;
  assert.ok(ini.includes(`directory ${join(root, "app", "conf")} does not exist yet: directory[${join(root, "app", "conf")}] earlier in this run creates it`), ini.join("\n"));
  assert.ok(ini.includes("user sous-dry-deploy does not exist yet: user[sous-dry-deploy] earlier in this run creates it"), ini.join("\n"));
  assert.ok(ini.includes("group sous-dry-deploy does not exist yet: user[sous-dry-deploy] earlier in this run creates it"), ini.join("\n"));
  const tool = assumptions.get("execute[use the tool]")!;
  assert.ok(tool.includes("command sous-dry-tool does not exist yet: assumed to come from execute[install the tool], earlier in this run"), tool.join("\n"));
});

test("the real run names both a missing owner and a missing group, and creates nothing", async () => {
  const root = scratch();
  const { events, result } = await convergeWith(({ file }) => void file(join(root, "owned"), { content: "x", owner: "sous-no-such-user", group: "sous-no-such-group" }));
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.match(message, /owner "sous-no-such-user": no such user.*group "sous-no-such-group": no such group/);
  assert.equal(existsSync(join(root, "owned")), false);
});
