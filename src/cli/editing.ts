// Editing a server object in $EDITOR: fetched, edited as JSON, saved only if nobody changed it
// meanwhile, and only in the fields that may change.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { SousClient } from "../client/api.js";
import { SousError } from "../core/errors.js";
import { print, type Json } from "./connection.js";
import { parseJsonText } from "./object-files.js";

/** Opens `value` as JSON in $EDITOR; `secret`: the text holds decrypted values and never outlives the command. */
export async function editInEditor(value: unknown, options: { secret?: boolean } = {}): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), "sous-edit-"));
  const file = join(dir, "object.json");
  let keep = false;
  try {
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    const editor = process.env.VISUAL || process.env.EDITOR || "vi";
    // Not spawnSync: a caller's event loop (a server in the same process, in tests) keeps running while the editor is open.
    const child = spawn("sh", ["-c", `${editor} "$1"`, "sous-edit", file], { stdio: "inherit" });
    const result = await new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolveExit, rejectExit) => {
      child.once("error", rejectExit);
      child.once("close", (status, signal) => resolveExit({ status, signal }));
    });
    if (result.status !== 0) throw new SousError("editor_failed", `the editor (${editor}) exited with ${result.status ?? result.signal}; nothing was saved`);
    try {
      return parseJsonText(readFileSync(file, "utf8"), file);
    } catch (error) {
      // The edit is not thrown away (the message says where it is), unless it holds decrypted secrets.
      keep = options.secret !== true;
      throw new SousError("bad_json", `${(error as Error).message}; nothing was saved (${keep ? `your text stays in ${file}` : "your text was deleted: it held decrypted values"})`);
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Fetches an object, lets the user edit it, and saves it only if nobody changed it meanwhile (If-Match). */
export async function editObject(command: Command, client: SousClient, path: string, what: string, check: (before: Json, after: Json) => void = () => undefined): Promise<void> {
  const current = await client.request<Json>("GET", path);
  const edited = await editInEditor(current.body);
  if (JSON.stringify(edited) === JSON.stringify(current.body)) {
    print(command, { name: current.body.name ?? null, changed: false }, () => `No change to ${what}`);
    return;
  }
  if (typeof edited !== "object" || edited === null || Array.isArray(edited)) throw new SousError("bad_json", `the edited text must be a JSON object; nothing was saved`);
  check(current.body, edited as Json);
  const { body } = await client.request<Json>("PUT", path, { body: edited, ...(current.etag ? { ifMatch: current.etag } : {}) });
  print(command, body, () => `Saved ${what}`);
}

/** Refuses an edit that changed anything but `editable`, with the reason for the field when there is one. */
export function onlyEditable(what: string, editable: readonly string[], reasons: Record<string, string>): (before: Json, after: Json) => void {
  return (before, after) => {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    const changed = keys.filter((key) => !editable.includes(key) && JSON.stringify(before[key]) !== JSON.stringify(after[key]));
    if (changed.length === 0) return;
    const reason = reasons[changed[0]!] ?? `only ${editable.join(" and ")} can be edited, not ${changed.join(", ")}`;
    throw new SousError("not_editable", `${what}: ${reason}; nothing was saved`);
  };
}
