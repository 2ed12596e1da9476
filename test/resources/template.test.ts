/** `template` against the real file system: cookbook templates, variables, ERB-like trimming, errors with file:line. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Resources } from "../../src/dsl.js";
import { convergeTwice, convergeWith, eventsOf, scratch } from "../helpers.js";

function cookbookWith(templates: Record<string, string>): string {
  const dir = join(scratch("sous-cookbook-"), "cookbook");
  mkdirSync(join(dir, "templates"), { recursive: true });
  for (const [name, text] of Object.entries(templates)) writeFileSync(join(dir, "templates", name), text);
  return dir;
}

test("a template renders variables from the cookbook's templates/, then nothing changes; a new value updates once", async () => {
  const cookbookDir = cookbookWith({ "app.ini.ejs": "[app]\nport = <%= port %>\nname = <%= node.name %>\n" });
  const dir = scratch();
  const path = join(dir, "app.ini");
  const declare = (port: number) => ({ template }: Resources) => void template(path, { source: "app.ini.ejs", variables: { port }, mode: "0600" });
  await convergeTwice(declare(8080), [`template[${path}]`], { cookbookDir });
  assert.equal(readFileSync(path, "utf8"), "[app]\nport = 8080\nname = test\n");
  assert.equal(statSync(path).mode & 0o7777, 0o600);

  const { first } = await convergeTwice(declare(9090), [`template[${path}]`], { cookbookDir });
  assert.match(eventsOf(first.events, "resource:updated")[0]!.diff ?? "", /^-port = 8080\n\+port = 9090$/m);
});

test("ERB-like trimming: -%> swallows the newline, <%_ _%> the whitespace; values are not HTML-escaped", async () => {
  const dir = scratch();
  const path = join(dir, "hosts");
  const inline = ["<% for (const host of hosts) { -%>", "server <%= host %>;", "<% } -%>", "    <%_ if (extra) { _%>", "extra <%= extra %>", "    <%_ } _%>", "end", ""].join("\n");
  await convergeTwice(({ template }) => void template(path, { inline, variables: { hosts: ["a", "b&c"], extra: "<x>" } }), [`template[${path}]`]);
  assert.equal(readFileSync(path, "utf8"), "server a;\nserver b&c;\nextra <x>\nend\n");
});

test("a missing variable is an error naming the template file and line, and nothing is written", async () => {
  const cookbookDir = cookbookWith({ "site.conf.ejs": "# site\nlisten <%= port %>;\nroot <%= docroot %>;\n" });
  const dir = scratch();
  const path = join(dir, "site.conf");
  const { result, events } = await convergeWith(({ template }) => void template(path, { source: "site.conf.ejs", variables: { port: 80 } }), { cookbookDir });
  assert.equal(result.status, "failed");
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.ok(message.includes(`${join(cookbookDir, "templates", "site.conf.ejs")}:3`), message);
  assert.match(message, /docroot is not defined/);
  assert.throws(() => statSync(path));
});

test("a template syntax error names the template file", async () => {
  const cookbookDir = cookbookWith({ "broken.ejs": "ok\n<% if (x) { %>\nunclosed\n" });
  const dir = scratch();
  const { result, events } = await convergeWith(({ template }) => void template(join(dir, "out"), { source: "broken.ejs", variables: { x: 1 } }), { cookbookDir });
  assert.equal(result.status, "failed");
  assert.ok(eventsOf(events, "resource:failed")[0]!.error.message.includes(join(cookbookDir, "templates", "broken.ejs")));
});

test("a template needs a source or inline text (a validation problem, before anything runs)", async () => {
  const dir = scratch();
  await assert.rejects(
    convergeWith(({ template }) => void template(join(dir, "x"), {})),
    (error: Error) => /template\[.*\]\.source: give a template/.test(error.message),
  );
});
