/**
 * Cookbook authoring as a service: `sous test` runs a repository's cookbook tests, in memory
 * (bundled and run by src/testing/runner.ts) or with --machine on a disposable machine
 * (src/testing/machine-test.ts), writing the test runner's output and a summary.
 */
import { join, relative, resolve } from "node:path";
import { openRepository } from "../cookbook/repository.js";
import { bundleTests, cookbooksToTest, filesIn, runNodeTests, type TestCommandOptions } from "../testing/runner.js";

/** `sous test`: the in-memory tests of the repository's cookbooks (or of one); with --machine, the machine tier. */
export async function testCommand(options: TestCommandOptions, output: { stdout: (text: string) => void; stderr: (text: string) => void }): Promise<number> {
  const root = resolve(options.repo);
  const cookbooks = cookbooksToTest(root, options.cookbook);
  if (options.machine) return (await import("../testing/machine-test.js")).machineTest(root, cookbooks, options, output);
  const files = cookbooks.flatMap((c) => filesIn(join(c.dir, "test"), /\.test\.(ts|mts|js|mjs)$/));
  if (files.length === 0) {
    output.stdout(`No tests in ${cookbooks.map((c) => relative(root, join(c.dir, "test"))).join(", ") || "cookbooks/"} (files named *.test.ts; sous cookbook create makes one)\n`);
    return options.cookbook ? 1 : 0;
  }
  const started = performance.now();
  const { writeResourceTypes } = await import("../cookbook/resource-types.js");
  writeResourceTypes(openRepository(root));
  const bundles = await bundleTests(root, files, join(root, ".sous", "cache", "test"));
  const code = await runNodeTests(bundles, { SOUS_TEST_REPOSITORY: root }, output.stdout, root);
  output.stdout(`${code === 0 ? "Tests passed" : "Tests failed"}: ${files.length} file${files.length === 1 ? "" : "s"} of ${cookbooks.length} cookbook${cookbooks.length === 1 ? "" : "s"} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return code === 0 ? 0 : 1;
}
