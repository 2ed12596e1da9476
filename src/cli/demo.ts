/** `sous demo`: the quick start. Converges the shipped example into a scratch folder twice. */
import { mkdirSync, mkdtempSync, readdirSync, lstatSync, readlinkSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { convergeCommand, type Output } from "./converge.js";

const sousBin = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "sous.js");
const exampleRepo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "quickstart");

function listTree(root: string, write: (text: string) => void): void {
  const visit = (path: string, rel: string) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const info = lstatSync(full);
      const mode = `0${(info.mode & 0o7777).toString(8)}`;
      const shown = `${rel}${name}`;
      if (info.isSymbolicLink()) write(`    ${mode}  ${shown} -> ${readlinkSync(full)}\n`);
      else if (info.isDirectory()) {
        write(`    ${mode}  ${shown}/\n`);
        visit(full, `${shown}/`);
      } else write(`    ${mode}  ${shown} (${info.size} bytes)\n`);
    }
  };
  visit(root, "");
}

/** Runs the demo; exit code 0 only when the second run changed nothing. */
export async function demoCommand(output: Output, options: { dir?: string } = {}): Promise<number> {
  const scratch = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), "sous-demo-"));
  // --dir may name a folder that does not exist yet.
  mkdirSync(scratch, { recursive: true });
  const attributes = join(scratch, "node.json");
  writeFileSync(attributes, `${JSON.stringify({ webapp: { root: join(scratch, "srv", "webapp") } }, null, 2)}\n`);
  const base = { repo: exampleRepo, jsonAttributes: attributes, backupDir: join(scratch, "backup"), report: join(scratch, "last-run.json") };

  output.stdout(`Sous demo: converging ${exampleRepo}\ninto the scratch folder ${scratch}\n\n== First run: everything is created ==\n`);
  const first = await convergeCommand({ ...base, why: true }, output);
  if (first !== 0) return first;
  output.stdout(`\n== What the run made under ${scratch}/srv ==\n`);
  listTree(join(scratch, "srv"), output.stdout);
  output.stdout(`\n== ${join(scratch, "srv/webapp/shared/config/app.ini")} ==\n`);
  output.stdout(readFileSync(join(scratch, "srv/webapp/shared/config/app.ini"), "utf8").replace(/^/gm, "    "));
  output.stdout(`\n== Second run: nothing to change ==\n`);
  const second = await convergeCommand({ ...base, logLevel: "warn" }, output);
  const report = JSON.parse(readFileSync(base.report, "utf8")) as { counts: { updated: number } };
  if (second !== 0) return second;
  if (report.counts.updated !== 0) {
    output.stderr(`The second run updated ${report.counts.updated} resources; it should have updated none.\n`);
    return 1;
  }
  output.stdout(
    `\nThe second run updated 0 resources. Try next: edit ${join(scratch, "srv/webapp/shared/config/app.ini")},\n` +
      `then see the diff Sous would apply (and apply it without --dry-run):\n` +
      `    node ${sousBin} converge --repo ${exampleRepo} -j ${attributes} --backup-dir ${base.backupDir} --report ${base.report} --dry-run\n`,
  );
  return 0;
}
