/**
 * `line`: one line of a file present or absent, or a regular-expression replacement of a line,
 * with Ansible lineinfile's semantics; the rest of the file is left as it is. The new content
 * is computed in the plan, shown as a diff and written atomically with a backup.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop } from "../core/properties.js";
import { type Change, defineType, type Plan } from "../core/resource.js";
import type { FileStat } from "../host/host.js";
import { backupFile, findBackupLeftovers } from "./backup.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { applyMetadata, contentDiff, type CurrentMetadata, loadDiffLibrary, planMetadata, readMetadata, resolveOwnership, sha256, backupProperty, metadataProperties } from "./metadata.js";

interface LineCurrent extends CurrentMetadata {
  content: Buffer | undefined;
  /** Temporary files of this file's atomic writes that a killed run left beside it (full paths). */
  leftovers?: string[];
}

function pathOf(properties: Readonly<LineProperties>): string {
  return properties.path ?? properties.name;
}

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** `$1`, `$<name>` and `$$` in `template`, filled from a match. */
function expand(template: string, match: RegExpExecArray): string {
  return template.replace(/\$(\$|<([^>]+)>|(\d{1,2}))/g, (_all, token: string, name: string | undefined, number: string | undefined) => {
    if (token === "$") return "$";
    if (name !== undefined) return match.groups?.[name] ?? "";
    return match[Number(number)] ?? "";
  });
}

function pick(indexes: number[], first: boolean): number | undefined {
  return first ? indexes[0] : indexes.at(-1);
}

/** Splits a file into lines (without their `\n`), remembering whether it ended with one. */
function splitLines(text: string): { lines: string[]; finalNewline: boolean } {
  if (text === "") return { lines: [], finalNewline: true };
  const lines = text.split("\n");
  const finalNewline = lines.at(-1) === "";
  if (finalNewline) lines.pop();
  return { lines, finalNewline };
}

/** The file's text after the edit; pure, so the plan can show it. */
export function editLines(text: string, properties: Readonly<LineProperties>, action: "present" | "absent"): string {
  const { lines, finalNewline } = splitLines(text);
  // Windows line ends count as line ends for matching; they stay as they are otherwise.
  const bare = lines.map((line) => line.replace(/\r$/, ""));
  const matches = (source: string) => {
    const regexp = new RegExp(source);
    return bare.flatMap((line, index) => (regexp.test(line) ? [index] : []));
  };
  let edited: string[];
  if (action === "absent") {
    const regexp = properties.regexp === undefined ? undefined : new RegExp(properties.regexp);
    edited = lines.filter((_line, index) => (regexp ? !regexp.test(bare[index]!) : bare[index] !== properties.line));
  } else {
    const wanted = properties.line!;
    edited = [...lines];
    const found = properties.regexp === undefined ? undefined : pick(matches(properties.regexp), properties.firstMatch);
    if (found !== undefined) {
      const replacement = properties.backrefs ? expand(wanted, new RegExp(properties.regexp!).exec(bare[found]!)!) : wanted;
      if (bare[found] !== replacement) edited[found] = replacement;
    } else if (!properties.backrefs && !bare.includes(wanted)) {
      edited.splice(insertionIndex(bare, properties, matches), 0, wanted);
    }
  }
  if (edited.length === 0) return "";
  return `${edited.join("\n")}${finalNewline || edited.length > lines.length ? "\n" : ""}`;
}

function insertionIndex(lines: string[], properties: Readonly<LineProperties>, matches: (source: string) => number[]): number {
  if (properties.insertBefore !== undefined) {
    if (properties.insertBefore === "BOF") return 0;
    return pick(matches(properties.insertBefore), properties.firstMatch) ?? lines.length;
  }
  if (properties.insertAfter !== undefined && properties.insertAfter !== "EOF") {
    const at = pick(matches(properties.insertAfter), properties.firstMatch);
    return at === undefined ? lines.length : at + 1;
  }
  return lines.length;
}

function describe(content: Buffer): string {
  return `sha256:${sha256(content).slice(0, 16)} (${content.length} bytes)`;
}

function checkRegularFile(path: string, stat: FileStat | undefined): void {
  if (stat && stat.type !== "file") throw new SousError("wrong-file-type", `${path} is a ${stat.type === "symlink" ? "symbolic link" : stat.type}, not a regular file; line edits only regular files`);
}

const properties = {
  name: prop.string({ role: "identity", nonEmpty: true }),
  /** The file (defaults to the resource name). */
  path: prop.absolutePath({ role: "control" }),
  /** The line to ensure (present), or to remove when no `regexp` is given (absent). */
  line: prop.string(),
  /**
   * A JavaScript regular expression. present: the last matching line (first with `firstMatch`)
   * is replaced by `line`; absent: every matching line is removed.
   */
  regexp: prop.matching("a JavaScript regular expression", compiles, { role: "control" }),
  /** present: `line` is a template with `$1`, `$<name>` from the regexp match; no match changes nothing. */
  backrefs: prop.boolean({ role: "control", default: false }),
  /** Where a missing line goes: after the last line matching this regexp, or `"EOF"` (default). */
  insertAfter: prop.matching('"EOF" or a JavaScript regular expression', compiles, { role: "control" }),
  /** Where a missing line goes: before the last line matching this regexp, or `"BOF"`. */
  insertBefore: prop.matching('"BOF" or a JavaScript regular expression', compiles, { role: "control" }),
  /** Use the first match of `regexp`/`insertAfter`/`insertBefore` instead of the last. */
  firstMatch: prop.boolean({ role: "control", default: false }),
  /** Create the file when it does not exist (default false: fail). */
  create: prop.boolean({ role: "control", default: false }),
  ...metadataProperties,
  /** How many previous versions to keep under the backup folder (default 5; 0 keeps none). */
  backup: backupProperty,
};

type LineProperties = OutputOf<typeof properties>;

/** What a recipe writes for `line` (derived from its property specs). */
export type LineInput = InputOf<typeof properties>;

/** Actions of `line`. */
export type LineAction = (typeof lineType.actions)[number];

/** The `line` resource type. */
export const lineType = defineType({
  name: "line",
  description: "A line present or absent in a file, or a regexp replacement of one (Ansible's lineinfile), written atomically.",
  actions: ["present", "absent", "nothing"],
  defaultAction: "present",
  identity: "name",
  properties,
  // A line needs `line` or `regexp` (validate says which): a declaration without properties is a compile error.
  propertiesRequired: true,
  validate(properties, actions) {
    const problems: Array<[string, string]> = [];
    if (properties.path === undefined && !properties.name.startsWith("/")) problems.push(["path", "give the file's absolute path (the name is not one)"]);
    if (actions.includes("present") && properties.line === undefined) problems.push(["line", "present needs the line to ensure"]);
    if (actions.includes("absent") && properties.line === undefined && properties.regexp === undefined) problems.push(["regexp", "absent needs a line or a regexp"]);
    if (properties.backrefs && properties.regexp === undefined) problems.push(["backrefs", "backrefs needs a regexp"]);
    if (properties.insertAfter !== undefined && properties.insertBefore !== undefined) problems.push(["insertBefore", "give insertAfter or insertBefore, not both"]);
    if (properties.line?.includes("\n")) problems.push(["line", "one line only (no newline)"]);
    return problems;
  },
  provider: {
    async read({ host, backupDir }, properties, action): Promise<LineCurrent> {
      const path = pathOf(properties);
      const stat = await host.tryLstat(path);
      checkRegularFile(path, stat);
      const [metadata, content, beside, backups] = await Promise.all([readMetadata(host, stat, properties), stat ? host.tryReadFile(path) : undefined, findLeftovers(host, path), findBackupLeftovers(host, backupDir, path)]);
      const leftovers = [...beside, ...backups];
      // The diff library loads only when the plan will show a diff: a no-op run never needs it.
      if (action !== "nothing") {
        const text = content?.toString("utf8") ?? "";
        if (!stat || editLines(text, properties, action as "present" | "absent") !== text) await loadDiffLibrary();
      }
      return { ...metadata, content, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties, action): Plan {
      const path = pathOf(properties);
      if (!current.stat) {
        if (action === "absent") return { changes: leftoverChange(current) };
        if (!properties.create) throw new SousError("missing-file", `${path} does not exist (set create: true to create it)`);
      }
      const before = current.content ?? Buffer.alloc(0);
      const after = Buffer.from(editLines(before.toString("utf8"), properties, action as "present" | "absent"), "utf8");
      const changes: Change[] = [];
      let diff: Plan["diff"];
      if (!current.stat || !after.equals(before)) {
        changes.push({ property: "content", from: current.stat ? describe(before) : undefined, to: describe(after) });
        diff = { property: "content", text: contentDiff(path, current.stat ? before : undefined, after) };
      }
      if (action === "present") changes.push(...planMetadata(current, properties));
      changes.push(...leftoverChange(current));
      return diff ? { changes, diff } : { changes };
    },
    async apply(context, plan, properties, action, current) {
      const { host } = context;
      const path = pathOf(properties);
      await removeLeftovers(host, plan, current);
      if (!plan.changes.some((change) => change.property === "content")) {
        await applyMetadata(host, path, plan.changes, properties);
        return;
      }
      const before = current.content ?? Buffer.alloc(0);
      const after = editLines(before.toString("utf8"), properties, action as "present" | "absent");
      const stat = current.stat;
      if (stat && current.content) await backupFile(host, context.backupDir, path, current.content, properties.backup, stat.mode);
      const { uid, gid } = action === "present" ? await resolveOwnership(host, properties) : {};
      await host.writeFileAtomic(path, after, {
        mode: (action === "present" ? properties.mode : undefined) ?? stat?.mode ?? 0o644,
        uid: uid ?? stat?.uid,
        gid: gid ?? stat?.gid,
      });
    },
  },
});
