/** Template and cookbook-file mistakes stop the run before any resource changes anything. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { convergeWith, eventsOf, scratch, treeDigest } from "../helpers.js";

function cookbook(templates: Record<string, string>): string {
  const dir = scratch("sous-prepare-cookbook-");
  mkdirSync(join(dir, "templates"));
  mkdirSync(join(dir, "files"));
  for (const [name, text] of Object.entries(templates)) writeFileSync(join(dir, "templates", name), text);
  return dir;
}

test("a template with a missing variable fails the run before the resources declared earlier change anything", async () => {
  const out = scratch();
  const cookbookDir = cookbook({ "site.conf.ejs": "port <%= port %>\nworkers <%= workers %>\n" });
  const before = treeDigest(out);
  const { result, events } = await convergeWith(
    ({ directory, file, template }) => {
      directory(join(out, "app"));
      file(join(out, "app", "marker"), { content: "x" });
      template(join(out, "app", "site.conf"), { source: "site.conf.ejs", variables: { port: 80 } });
    },
    { cookbookDir },
  );
  assert.equal(result.status, "failed");
  assert.equal(result.counts.updated, 0);
  assert.equal(treeDigest(out), before, "nothing may change when a template cannot render");
  assert.equal(existsSync(join(out, "app")), false);
  const [failed] = eventsOf(events, "resource:failed");
  assert.match(failed!.error.message, /site\.conf\.ejs:2/);
  assert.match(failed!.error.message, /workers is not defined/);
});

test("every broken template and missing cookbook file is reported, not only the first", async () => {
  const out = scratch();
  const cookbookDir = cookbook({ "a.ejs": "<%= a %>\n", "b.ejs": "<% if (x) { %>\n" });
  const { result, events } = await convergeWith(
    ({ template, file }) => {
      template(join(out, "a"), { source: "a.ejs" });
      template(join(out, "b"), { source: "b.ejs", variables: { x: 1 } });
      file(join(out, "c"), { source: "missing.txt" });
    },
    { cookbookDir },
  );
  assert.equal(result.status, "failed");
  const failed = eventsOf(events, "resource:failed").map((e) => e.resource.name);
  assert.deepEqual(failed, [join(out, "a"), join(out, "b"), join(out, "c")]);
  assert.match(eventsOf(events, "resource:failed")[2]!.error.message, /has no files\/missing\.txt/);
});

test("an attribute that does not exist is refused instead of rendering 'undefined' into the file", async () => {
  const out = scratch();
  const cookbookDir = cookbook({ "site.conf.ejs": "# site\nlisten <%= settings.prot %>\n" });
  const { result, events } = await convergeWith(({ template }) => {
    template(join(out, "site.conf"), { source: "site.conf.ejs", variables: { settings: { port: 8080 } } });
  }, { cookbookDir });
  assert.equal(result.status, "failed");
  assert.equal(existsSync(join(out, "site.conf")), false);
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.match(message, /site\.conf\.ejs:2/);
  assert.match(message, /printed undefined/);
});

test("ERB habits get a hint: <%= @port %> is named", async () => {
  const out = scratch();
  const cookbookDir = cookbook({ "erb.ejs": "a\nport <%= @port %>\n" });
  const { events } = await convergeWith(({ template }) => {
    template(join(out, "erb"), { source: "erb.ejs", variables: { port: 1 } });
  }, { cookbookDir });
  const message = eventsOf(events, "resource:failed")[0]!.error.message;
  assert.match(message, /line 2 uses ERB's @name: write <%= name %>/);
  assert.doesNotMatch(message, /EJS-Lint/);
});
