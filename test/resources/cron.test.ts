import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { editCrontab, entryLine } from "../../src/resources/cron.js";
import { convergeWith } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";

const box = createDisposableRoot();
const host = box.host;

box.run(["useradd", "--no-create-home", "sous-cron-user"]);
// A line someone wrote by hand: Sous must leave it alone.
box.run(["crontab", "-u", "sous-cron-user", "-"], "MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/manual-job\n");

function crontab(user: string): string {
  return box.run(["crontab", "-l", "-u", user]);
}

test("named entries are added once, beside hand-written lines; the second run changes nothing", async () => {
  const declare = ({ cron }: Resources) => {
    cron("backup", { user: "sous-cron-user", minute: 30, hour: 2, command: "/usr/local/bin/backup --all", environment: { BACKUP_TARGET: "/srv/backup 100%" } });
    cron("cleanup", { user: "sous-cron-user", time: "daily", command: "find /tmp -mtime +7 -delete" });
  };
  const before = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true });
  assert.deepEqual(preview.updated, ["cron[backup]", "cron[cleanup]"]);
  assert.match((preview.events.find((e) => e.type === "resource:updated") as { diff?: string }).diff ?? "", /^\+# Sous: backup$/m);
  assert.equal(box.digest(), before, "a dry run changes nothing");

  const first = await convergeWith(declare, { host });
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.filter((e) => e.type === "resource:failed")));
  assert.equal(
    crontab("sous-cron-user"),
    [
      "MAILTO=ops@example.com",
      "15 3 * * * /usr/local/bin/manual-job",
      "# Sous: backup",
      "30 2 * * * BACKUP_TARGET='/srv/backup 100\\%' /usr/local/bin/backup --all",
      "# Sous: cleanup",
      "@daily find /tmp -mtime +7 -delete",
      "",
    ].join("\n"),
  );
  assert.ok(existsSync(box.path("/var/spool/cron/crontabs/sous-cron-user")));
  assert.equal(existsSync("/var/spool/cron/crontabs/sous-cron-user"), false, "this machine is untouched");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);
});

test("a changed schedule rewrites its own line in place; delete removes marker and entry once", async () => {
  const moved = ({ cron }: Resources) => void cron("backup", { user: "sous-cron-user", minute: 0, hour: 4, weekday: "1-5", command: "/usr/local/bin/backup --all" });
  const run = await convergeWith(moved, { host });
  const event = run.events.find((e) => e.type === "resource:updated") as { changes: Array<{ from: unknown; to: unknown }> };
  assert.deepEqual(event.changes[0], { property: "entry", from: "30 2 * * * BACKUP_TARGET='/srv/backup 100\\%' /usr/local/bin/backup --all", to: "0 4 * * 1-5 /usr/local/bin/backup --all" });
  assert.deepEqual(crontab("sous-cron-user").split("\n").slice(2, 4), ["# Sous: backup", "0 4 * * 1-5 /usr/local/bin/backup --all"]);
  assert.deepEqual((await convergeWith(moved, { host })).updated, []);

  const remove = ({ cron }: Resources) => void cron("backup", { user: "sous-cron-user", action: "delete" });
  assert.deepEqual((await convergeWith(remove, { host })).updated, ["cron[backup]"]);
  assert.equal(crontab("sous-cron-user"), "MAILTO=ops@example.com\n15 3 * * * /usr/local/bin/manual-job\n# Sous: cleanup\n@daily find /tmp -mtime +7 -delete\n");
  assert.deepEqual((await convergeWith(remove, { host })).updated, []);
});

test("a user without a crontab gets one; a missing user fails clearly", async () => {
  const declare = ({ cron }: Resources) => void cron("heartbeat", { minute: "*/5", command: "touch /var/run/heartbeat" });
  assert.deepEqual((await convergeWith(declare, { host })).updated, ["cron[heartbeat]"]);
  assert.equal(crontab("root"), "# Sous: heartbeat\n*/5 * * * * touch /var/run/heartbeat\n");
  assert.deepEqual((await convergeWith(declare, { host })).updated, []);

  const missing = await convergeWith(({ cron }) => void cron("x", { user: "sous-no-user", command: "true" }), { host });
  assert.equal(missing.result.status, "failed");
  assert.match(JSON.stringify(missing.events), /crontab -l -u sous-no-user/);
});

test("crontab editing: marker followed by another marker, no final newline, entry lines", () => {
  assert.equal(editCrontab("# Sous: a\n# Sous: b\nx\n", "a", "new"), "# Sous: a\nnew\n# Sous: b\nx\n");
  assert.equal(editCrontab("keep", "a", "* * * * * x"), "keep\n# Sous: a\n* * * * * x\n");
  assert.equal(editCrontab("", "a", undefined), "");
  assert.equal(entryLine({ name: "n", user: "root", minute: "*", hour: "*", day: "*", month: "*", weekday: "0", command: "run" }), "* * * * 0 run");
});
