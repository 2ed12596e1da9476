/** The repository a command works from: the one it names, or the nearest one above the working directory. */
import { resolve } from "node:path";
import { UsageError } from "../core/errors.js";
import { findRepositoryRoot } from "../cookbook/repository.js";

/** `repo` resolved, or the nearest repository above `cwd`; undefined when there is none. */
export function tryRepositoryRoot(repo: string | undefined, cwd: string = process.cwd()): string | undefined {
  return repo ? resolve(repo) : findRepositoryRoot(cwd);
}

/** `repo` resolved, or the nearest repository above `cwd`; a usage error (exit code 2) says what to do when there is none. */
export function repositoryRoot(repo: string | undefined, cwd: string = process.cwd()): string {
  const root = tryRepositoryRoot(repo, cwd);
  if (!root) throw new UsageError("no repository here: run this inside a repository made by `sous init`, or pass --repo DIR");
  return root;
}
