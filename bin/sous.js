#!/usr/bin/env node
// Entry point of the `sous` command: runs the compiled CLI.
import module from "node:module";

// Node 22+: V8 keeps the compiled code of Sous's own modules on disk (in the temp folder), so
// later runs skip compiling them. Node 20 has no such API; NODE_DISABLE_COMPILE_CACHE=1 turns
// it off. Enabled before the CLI is imported, which is why that import is dynamic.
module.enableCompileCache?.();
const { main } = await import("../dist/cli/main.js");

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`sous: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
