// Roles and environments are typed by the cookbooks' attributes: a misspelled key and a string
// for a number fail `sous cookbook check`; at converge time, keys no cookbook declares are
// warned about (JSON roles and node files, which the type checker does not see, included).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cookbook, sous, writeRepo } from "../cookbook/repo.js";
import { scratch } from "../helpers.js";

function repository(out: string, roleAttributes: string, environmentAttributes: string): string {
  return writeRepo({
    ...cookbook("nginxlite", {
      attributes: `import { attributes } from "sous";\nexport default attributes({ nginxlite: { port: 80, root: "/srv/www" } });\n`,
      recipes: {
        default: `import { recipe } from "sous";\nimport type defaults from "../attributes.js";\nexport default recipe<typeof defaults>(({ node, resources: { file } }) => {\n  file(${JSON.stringify(join(out, "nginx.conf"))}, { content: \`listen \${node.attributes.nginxlite.port}\\n\` });\n});\n`,
      },
    }),
    "roles/web.ts": `import { role } from "sous";\n\nexport default role({\n  runList: ["recipe[nginxlite]"],\n  overrideAttributes: ${roleAttributes},\n});\n`,
    "environments/production.ts": `import { environment } from "sous";\n\nexport default environment({\n  defaultAttributes: ${environmentAttributes},\n});\n`,
  });
}

test("a misspelled attribute key in a role and a string port in an environment are type errors naming file:line; fixed, the check passes", async () => {
  const out = scratch("sous-role-attrs-");
  const root = repository(out, `{ nginxlite: { prot: 8080 } }`, `{ nginxlite: { port: "8080" } }`);
  const broken = await sous("cookbook", "check", "--repo", root);
  assert.equal(broken.code, 1, broken.stdout + broken.stderr);
  assert.ok(broken.stderr.includes(`${join(root, "roles/web.ts")}:5:`), broken.stderr);
  assert.match(broken.stderr, /'prot' does not exist/);
  assert.ok(broken.stderr.includes(`${join(root, "environments/production.ts")}:4:`), broken.stderr);
  assert.match(broken.stderr, /Type 'string' is not assignable to type 'number'/);

  writeFileSync(join(root, "roles/web.ts"), readFileSync(join(root, "roles/web.ts"), "utf8").replace("prot", "port"));
  writeFileSync(join(root, "environments/production.ts"), readFileSync(join(root, "environments/production.ts"), "utf8").replace('"8080"', "8080"));
  const fixed = await sous("cookbook", "check", "--repo", root);
  assert.equal(fixed.code, 0, fixed.stderr);
  const run = await sous("converge", "--repo", root, "-r", "role[web]", "-E", "production", "--backup-dir", join(out, "backup"));
  assert.equal(run.code, 0, run.stderr);
  assert.equal(readFileSync(join(out, "nginx.conf"), "utf8"), "listen 8080\n");
});

test("at converge time, attribute keys no cookbook of the run declares are warned about, each with where it was set", async () => {
  const out = scratch("sous-role-attrs-");
  const root = repository(out, `{ nginxlite: { prot: 8080 } } as never`, `{}`);
  writeFileSync(join(root, "roles/json.json"), JSON.stringify({ run_list: ["recipe[nginxlite]"], default_attributes: { nginxlite: { port: 81 }, nginxlit: { port: 82 } } }));
  const nodeFile = join(out, "node.json");
  writeFileSync(nodeFile, JSON.stringify({ nginxlite: { rooot: "/x" } }));
  const run = await sous("converge", "--repo", root, "-r", "role[web],role[json]", "-j", nodeFile, "--backup-dir", join(out, "backup"));
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /role web overrideAttributes: nginxlite\.prot is not an attribute any cookbook of this run declares/);
  assert.match(run.stdout, /role json defaultAttributes: nginxlit is not an attribute/);
  assert.match(run.stdout, /the node's attributes: nginxlite\.rooot is not an attribute/);
  assert.doesNotMatch(run.stdout, /nginxlite\.port is not/);
  assert.equal(readFileSync(join(out, "nginx.conf"), "utf8"), "listen 81\n", "the run itself goes on");
});
