/** Files Sous writes into a repository's `.sous/` for editors and the type checker. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Writes `content` to `file` atomically, only when it differs from what is there (no
 * needless change for editors watching it). Best effort: a read-only repository still converges.
 */
export function writeGeneratedFile(file: string, content: string): void {
  try {
    if (readFileSync(file, "utf8") === content) return;
  } catch {
    // Not written yet.
  }
  try {
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, content);
    renameSync(temp, file);
  } catch {
    // Only editors and the type checker read it.
  }
}
