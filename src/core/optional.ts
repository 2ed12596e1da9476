/**
 * Packages a Sous install may lack: the server's (fastify, better-sqlite3, pg) and the type
 * checker's (typescript) are optional peer dependencies, so that an agent's install on every
 * node carries none of them. Each is imported where it is used, through {@link importOptional}.
 */
import { SousError } from "./errors.js";

/**
 * Imports an optional package (or a module of Sous that imports it); when the package is not
 * installed, throws an error naming the command that needs it and how to add it.
 */
export async function importOptional<T>(packages: readonly string[], what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const missing = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" ? packages.find((name) => message.includes(`'${name}'`) || message.includes(`"${name}"`) || message.includes(`/node_modules/${name}/`)) : undefined;
    if (missing === undefined) throw error;
    throw new SousError("missing-package", `${what} needs the npm package ${missing}, which is not installed here (Sous installs it only on demand, so that nodes running the agent stay small): npm install ${packages.join(" ")}`);
  }
}
