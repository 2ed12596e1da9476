/** Finding the repository a folder belongs to: a module of its own, so commands that only need the root (deploy, the client's config) load nothing of the cookbook reader. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Finds the repository containing `start`: the nearest folder with sous.config.ts or cookbooks/. */
export function findRepositoryRoot(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, "sous.config.ts")) || existsSync(join(dir, "cookbooks"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
