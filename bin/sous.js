#!/usr/bin/env node
// Entry point of the `sous` command: runs the compiled CLI.
import { main } from "../dist/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`sous: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
