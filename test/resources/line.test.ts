import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type { Resources } from "../../src/dsl.js";
import { editLines } from "../../src/resources/line.js";
import { convergeWith } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";

const box = createDisposableRoot();
const host = box.host;
const backupDir = "/var/lib/sous/backup";

const sshdConfig = "# sshd\nPort 22\n#PermitRootLogin prohibit-password\nPasswordAuthentication yes\n";

test("a regexp replacement converges once, shows a diff, keeps mode and owner, and leaves the rest alone", async () => {
  writeFileSync(box.path("/etc/sous-sshd.conf"), sshdConfig, { mode: 0o600 });
  const declare = ({ line }: Resources) => {
    line("root login", { path: "/etc/sous-sshd.conf", regexp: "^#?PermitRootLogin ", line: "PermitRootLogin no" });
    line("/etc/sous-sshd.conf", { line: "MaxAuthTries 3", insertAfter: "^Port " });
  };
  const before = box.digest();
  const preview = await convergeWith(declare, { host, dryRun: true, backupDir });
  assert.deepEqual(preview.updated, ["line[root login]", "line[/etc/sous-sshd.conf]"]);
  const shown = preview.events.find((e) => e.type === "resource:updated") as { diff?: string };
  assert.match(shown.diff ?? "", /-#PermitRootLogin prohibit-password\n\+PermitRootLogin no/);
  assert.equal(box.digest(), before, "a dry run changes nothing");

  const first = await convergeWith(declare, { host, backupDir });
  assert.equal(first.result.status, "converged");
  assert.equal(first.updated.length, 2);
  assert.equal(readFileSync(box.path("/etc/sous-sshd.conf"), "utf8"), "# sshd\nPort 22\nMaxAuthTries 3\nPermitRootLogin no\nPasswordAuthentication yes\n");
  assert.equal(statSync(box.path("/etc/sous-sshd.conf")).mode & 0o777, 0o600);
  assert.equal(existsSync("/etc/sous-sshd.conf"), false);
  assert.deepEqual((await convergeWith(declare, { host, backupDir })).updated, []);
});

test("absent removes every matching line; create makes a missing file; a missing file without create fails", async () => {
  writeFileSync(box.path("/etc/sous-hosts.allow"), "ALL: 10.0.0.1\nsshd: 10.0.0.2\nALL: 10.0.0.3\n");
  const absent = ({ line }: Resources) => void line("no ALL", { path: "/etc/sous-hosts.allow", regexp: "^ALL:", action: "absent" });
  assert.deepEqual((await convergeWith(absent, { host, backupDir })).updated, ["line[no ALL]"]);
  assert.equal(readFileSync(box.path("/etc/sous-hosts.allow"), "utf8"), "sshd: 10.0.0.2\n");
  assert.deepEqual((await convergeWith(absent, { host, backupDir })).updated, []);

  const created = ({ line }: Resources) => void line("/etc/sous-new.conf", { line: "enabled = true", create: true, mode: "0640" });
  assert.deepEqual((await convergeWith(created, { host, backupDir })).updated, ["line[/etc/sous-new.conf]"]);
  assert.equal(readFileSync(box.path("/etc/sous-new.conf"), "utf8"), "enabled = true\n");
  assert.equal(statSync(box.path("/etc/sous-new.conf")).mode & 0o777, 0o640);
  assert.deepEqual((await convergeWith(created, { host, backupDir })).updated, []);

  const missing = await convergeWith(({ line }) => void line("/etc/sous-absent.conf", { line: "x" }), { host, backupDir });
  assert.equal(missing.result.status, "failed");
  assert.match(JSON.stringify(missing.events), /does not exist \(set create: true to create it\)/);
});

test("declarations that cannot work are refused before anything runs", async () => {
  await assert.rejects(convergeWith(({ line }) => void line("relative", { line: "x" }), { host }), /path/);
  await assert.rejects(convergeWith(({ line }) => void line("/etc/x", { line: "x", regexp: "(" }), { host }), /regular expression/);
  await assert.rejects(convergeWith(({ line }) => void line("/etc/x", { line: "x", backrefs: true }), { host }), /backrefs needs a regexp/);
});

const base = { name: "/f", backrefs: false, firstMatch: false, create: false, backup: 0 };

test("lineinfile semantics, each case with its already-converged run", () => {
  const cases: Array<[string, string, Partial<typeof base> & { line?: string; regexp?: string; insertAfter?: string; insertBefore?: string }, "present" | "absent", string]> = [
    ["appends a missing line", "a\nb\n", { line: "c" }, "present", "a\nb\nc\n"],
    ["adds a final newline before appending", "a\nb", { line: "c" }, "present", "a\nb\nc\n"],
    ["present line: no change", "a\nc\nb", { line: "c" }, "present", "a\nc\nb"],
    ["replaces the last match", "x=1\ny\nx=2\n", { regexp: "^x=", line: "x=3" }, "present", "x=1\ny\nx=3\n"],
    ["replaces the first match with firstMatch", "x=1\ny\nx=2\n", { regexp: "^x=", line: "x=3", firstMatch: true }, "present", "x=3\ny\nx=2\n"],
    ["regexp without match but the line present: no change", "a\nkeep\n", { regexp: "^nothing", line: "keep" }, "present", "a\nkeep\n"],
    ["backrefs fill the line from the match", "Port 22\n", { regexp: "^Port (\\d+)$", line: "Port $1 # managed", backrefs: true }, "present", "Port 22 # managed\n"],
    ["backrefs, converged", "Port 22 # managed\n", { regexp: "^Port (\\d+)", line: "Port $1 # managed", backrefs: true }, "present", "Port 22 # managed\n"],
    ["backrefs without match: no change", "a\n", { regexp: "^Port (\\d+)", line: "Port $1", backrefs: true }, "present", "a\n"],
    ["insertBefore BOF", "a\n", { line: "first", insertBefore: "BOF" }, "present", "first\na\n"],
    ["insertBefore a match", "a\n[s]\nb\n", { line: "x", insertBefore: "^\\[s\\]" }, "present", "a\nx\n[s]\nb\n"],
    ["insertAfter without a match goes to the end", "a\n", { line: "x", insertAfter: "^nope" }, "present", "a\nx\n"],
    ["into an empty file", "", { line: "x" }, "present", "x\n"],
    ["absent by line", "a\nb\na\n", { line: "a" }, "absent", "b\n"],
    ["absent, converged", "b\n", { line: "a" }, "absent", "b\n"],
    ["absent keeps a missing final newline", "a\nb", { regexp: "^a" }, "absent", "b"],
    ["Windows line ends match", "a\r\nb\r\n", { line: "a" }, "present", "a\r\nb\r\n"],
  ];
  for (const [what, before, properties, action, after] of cases) {
    assert.equal(editLines(before, { ...base, ...properties }, action), after, what);
  }
});
