/** The lock service behind `sous lock`: resolves the repository's run lists and writes sous.lock.json. */
import type { Lock } from "../cookbook/lock.js";

/**
 * Resolves every role's run list in every environment to exact cookbook versions and digests
 * (`update`: move only these cookbooks) and writes the lock file; a ValidationError lists what
 * could not be resolved.
 */
export async function lockRepository(root: string, update?: readonly string[]): Promise<{ lock: Lock; file: string }> {
  const { createLock, writeLock } = await import("../cookbook/lock.js");
  const lock = await createLock(root, update ? { update } : {});
  return { lock, file: writeLock(root, lock) };
}
