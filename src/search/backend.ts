// Where recipes' search() and dataBagItem() get their answers: a SearchBackend. One answers from
// a Sous server through the signed API (server.ts), one from a folder of node and data bag JSON
// without any server (directory.ts). Recipes declare their resources synchronously, so a backend
// answers synchronously too.
import type { PartialKeys } from "../protocol/partial-search.js";

/** A JSON object as search returns it. */
export type SearchDocument = Record<string, unknown>;

/** Answers searches and data bag item reads for a run. */
export interface SearchBackend {
  /** Where the answers come from, for messages: "the Sous server at URL (org acme)", "the folder /srv/repo". */
  readonly description: string;
  /**
   * Every hit of a query on an index (`node`, `role`, `environment`, `client` or a data bag name),
   * in name order: whole objects, or with `keys` each hit's values by result name (partial search;
   * a path that leads nowhere is null). Throws a SearchError for a bad query or index.
   */
  search(index: string, query: string, keys?: PartialKeys): SearchDocument[];
  /** A data bag item as stored (encrypted values still sealed), or undefined when the bag or the item does not exist. */
  dataBagItem(bag: string, id: string): SearchDocument | undefined;
  /** Frees what the backend holds (a worker thread, connections). */
  close?(): void;
}

/** A search the backend refused: a bad query (with its position in the message), an unknown index, an unreachable server. */
export class SearchError extends Error {
  constructor(
    message: string,
    /** The 1-based position in the query where it went wrong, when the query was at fault. */
    readonly position?: number,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "SearchError";
  }
}
