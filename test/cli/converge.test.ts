import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunReport } from "../../src/run/report/run-report.js";
import { cookbook, sous, writeRepo } from "../cookbook/repo.js";
import { scratch } from "../helpers.js";

const RECIPES = {
  default: `import { recipe } from "sous";
export default recipe(({ node, resources: { file } }) => {
  const out = (node.attributes.app as { out: string }).out;
  file(\`\${out}/a.conf\`, { content: "a\\n", mode: "0644" });
  file(\`\${out}/b.conf\`, { content: "b\\n" });
});
`,
  failing: `import { recipe } from "sous";
export default recipe(({ node, resources: { file, execute } }) => {
  const out = (node.attributes.app as { out: string }).out;
  file(\`\${out}/before\`, { content: "x" });
  execute("fails", { command: ["sh", "-c", "echo something broke >&2; exit 3"] });
  file(\`\${out}/after\`, { content: "never" });
});
`,
  invalid: `import { recipe } from "sous";
export default recipe(({ resources: { file } }) => {
  file("relative/path", { content: 42 as never });
});
`,
};

function setup() {
  const out = scratch("sous-out-");
  const root = writeRepo({
    ...cookbook("app", { recipes: RECIPES }),
    "node.json": JSON.stringify({ app: { out } }),
  });
  const run = (...args: string[]) => sous("converge", "--repo", root, "-j", join(root, "node.json"), "--backup-dir", join(root, ".sous", "backup"), ...args);
  return { root, out, run };
}

const jsonLines = (stdout: string) => stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { type: string; [key: string]: unknown });

test("exit codes: 0 converged, 1 when a resource fails, 1 when a recipe is invalid, 2 for usage and configuration errors", async () => {
  const { root, run } = setup();
  assert.equal((await run("-r", "recipe[app]")).code, 0);
  const failed = await run("-r", "recipe[app::failing]");
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /✗ execute\[fails\] failed: .*exited with code 3/);
  assert.match(failed.stdout, /recipes\/failing\.ts:5/);
  assert.match(failed.stdout, /stderr:\n\s+something broke/);
  const invalid = await run("-r", "recipe[app::invalid]");
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /recipes\/invalid\.ts:3 file\[relative\/path\]/);
  assert.equal((await sous("converge", "--repo", root, "--no-such-flag")).code, 2);
  assert.equal((await sous("converge", "--repo", join(root, "missing"), "-r", "recipe[app]")).code, 2);
  assert.equal((await sous("converge", "--repo", root, "-r", "recipe[app]", "-j", join(root, "missing.json"))).code, 2);
  assert.equal((await sous("converge", "--repo", root, "-r", "recipe[app]", "--log-level", "loud")).code, 2);
  assert.equal((await sous("no-such-command")).code, 2);
});

test("a failing run stops at the failure, and the run report is written with the failure", async () => {
  const { root, out, run } = setup();
  const failed = await run("-r", "recipe[app::failing]");
  assert.equal(failed.code, 1);
  assert.ok(existsSync(join(out, "before")));
  assert.ok(!existsSync(join(out, "after")), "resources after the failure are not converged");
  const report = JSON.parse(readFileSync(join(root, ".sous", "runs", "last-run.json"), "utf8")) as RunReport;
  assert.equal(report.status, "failed");
  assert.deepEqual(report.actions.map((a) => [a.resource.id, a.status]), [[`file[${out}/before]`, "updated"], ["execute[fails]", "failed"]]);
  assert.equal(report.error?.exitCode, 3);
  assert.equal(report.error?.resource, "execute[fails]");
  assert.match(report.error?.stderr ?? "", /something broke/);
});

test("invalid recipes also leave a run report (status failed, with every problem) at --report", async () => {
  const { root, run } = setup();
  const reportFile = join(root, "reports", "run.json");
  const invalid = await run("-r", "recipe[app::invalid]", "--report", reportFile);
  assert.equal(invalid.code, 1);
  const report = JSON.parse(readFileSync(reportFile, "utf8")) as RunReport;
  assert.equal(report.status, "failed");
  assert.equal(report.counts?.updated, 0);
  assert.deepEqual(report.problems?.map((p) => p.path).sort(), ["file[relative/path].content", "file[relative/path].path"].sort());
});

test("--json writes one JSON object per line and ends with run:finish, also for failed and invalid runs", async () => {
  const { run } = setup();
  for (const [recipe, status] of [["recipe[app]", "converged"], ["recipe[app::failing]", "failed"], ["recipe[app::invalid]", "failed"]] as const) {
    const result = await run("-r", recipe, "--json");
    assert.equal(result.stderr, "", `${recipe}: nothing on stderr in JSON mode`);
    const events = jsonLines(result.stdout);
    assert.ok(events.length >= 2, recipe);
    const last = events.at(-1)!;
    assert.equal(last.type, "run:finish", recipe);
    assert.equal(last.status, status, recipe);
    assert.equal(events.filter((e) => e.type === "run:finish").length, 1);
  }
  const ok = jsonLines((await run("-r", "recipe[app]", "--json")).stdout);
  // node.json sets `app`, the attributes of a cookbook that declares none: nothing to compare with, so no warning.
  assert.deepEqual(ok.map((e) => e.type), ["run:start", "resource:up-to-date", "resource:up-to-date", "run:finish"]);
});

test("--why shows the property changes behind an update; --log-level warn hides up-to-date lines", async () => {
  const { out, run } = setup();
  assert.equal((await run("-r", "recipe[app]")).code, 0);
  chmodSync(join(out, "a.conf"), 0o600);
  writeFileSync(join(out, "b.conf"), "changed by hand\n");
  const why = await run("-r", "recipe[app]", "--why");
  assert.match(why.stdout, new RegExp(`↻ file\\[${out}/a\\.conf\\] updated mode\\n\\s+mode: 0600 → 0644\\n`));
  assert.match(why.stdout, new RegExp(`↻ file\\[${out}/b\\.conf\\] updated content\\n\\s+content: .*16 bytes.* → .*2 bytes`));
  const plain = await run("-r", "recipe[app]");
  assert.doesNotMatch(plain.stdout, /mode: 0600/, "without --why, no property rows");
  chmodSync(join(out, "a.conf"), 0o600);
  const quiet = await run("-r", "recipe[app]", "--log-level", "warn");
  assert.match(quiet.stdout, /↻ file\[.*a\.conf\] updated/);
  assert.doesNotMatch(quiet.stdout, /up to date/);
  assert.match(quiet.stdout, /Converged: 2 resources, 1 updated/);
  const info = await run("-r", "recipe[app]");
  assert.match(info.stdout, /✓ file\[.*a\.conf\] up to date/);
});

test("a real run shows the unified diff of a content change; with --no-diff, only the update line", async () => {
  const { out, run } = setup();
  assert.equal((await run("-r", "recipe[app]")).code, 0);
  writeFileSync(join(out, "b.conf"), "changed by hand\n");
  const withDiff = await run("-r", "recipe[app]", "--diff");
  assert.match(withDiff.stdout, new RegExp(`--- ${out}/b\\.conf\\n\\s+\\+\\+\\+ ${out}/b\\.conf\\n\\s+@@ -1(,1)? \\+1(,1)? @@\\n\\s+-changed by hand\\n\\s+\\+b\\n`));
  writeFileSync(join(out, "b.conf"), "changed by hand\n");
  const without = await run("-r", "recipe[app]", "--no-diff");
  assert.match(without.stdout, /↻ file\[.*b\.conf\] updated/);
  assert.doesNotMatch(without.stdout, /changed by hand/);
});
