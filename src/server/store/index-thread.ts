// Entry of a search index thread (index-threads.ts starts it). A planning thread checks a large
// document against the limits (before its save's transaction) and flattens it into rows; SQLite's writer thread runs a large
// save's whole transaction on a connection of its own: the statements the save sends, and its
// search rows planned and written right here, so that they never cross threads.
import { parentPort, workerData } from "node:worker_threads";
import type { IndexLimits } from "../limits.js";
import type { Column } from "./driver.js";
import type { ThreadRole } from "./index-threads.js";
import { toThreadError } from "./index-threads.js";
import type { IndexJob } from "./large-index.js";
import { indexInTransaction, planPostgresRows } from "./large-index.js";
import { checkIndexLimits, FieldCache } from "./search-index.js";

type Request =
  | { id: number; op: "begin" | "commit" | "rollback" }
  | { id: number; op: "all" | "run"; sql: string; params: unknown[] }
  | { id: number; op: "insertMany"; table: string; columns: Column[]; rows: unknown[][]; ignoreConflicts: boolean }
  | { id: number; op: "index"; job: IndexJob };

const port = parentPort!;
const role = workerData as ThreadRole;

function answer(id: number, work: () => unknown): Promise<void> {
  return Promise.resolve()
    .then(work)
    .then(
      (result) => port.postMessage({ id, result }),
      (error: unknown) => port.postMessage({ id, error: toThreadError(error) }),
    );
}

if (role.role === "plan") {
  port.on("message", (request: { id: number; job: IndexJob } | { id: number; check: { document: Record<string, unknown>; limits: IndexLimits } }) =>
    void answer(request.id, () => ("check" in request ? checkIndexLimits(request.check.document, request.check.limits) : planPostgresRows(request.job))),
  );
} else {
  // Loaded here only: a server on PostgreSQL may not have better-sqlite3.
  const { Connection, openSqlite } = await import("./sqlite-driver.js");
  // The same page cache as the main thread's writer: this connection writes the same pages.
  const connection = new Connection(openSqlite(role.file, 49_152));
  const begin = connection.db.prepare("BEGIN IMMEDIATE");
  const commit = connection.db.prepare("COMMIT");
  const fields = new FieldCache();
  /** Key numbers the open transaction learned: shared with later ones only once it commits. */
  let learned = new Map<string, number>();
  const handle = async (request: Request): Promise<unknown> => {
    switch (request.op) {
      case "begin":
        learned = new Map();
        begin.run();
        return undefined;
      case "commit":
        commit.run();
        fields.addAll(learned);
        return undefined;
      case "rollback":
        if (connection.db.inTransaction) connection.db.exec("ROLLBACK");
        return undefined;
      case "all":
        return connection.all(request.sql, request.params);
      case "run":
        return connection.run(request.sql, request.params);
      case "insertMany":
        return connection.insertMany(request.table, request.columns, request.rows, request.ignoreConflicts);
      case "index":
        return indexInTransaction(connection, fields, learned, request.job);
    }
  };
  // One request at a time, in order: a transaction's statements depend on the ones before.
  let previous = Promise.resolve();
  port.on("message", (request: Request) => {
    previous = previous.then(() => answer(request.id, () => handle(request)));
  });
}
