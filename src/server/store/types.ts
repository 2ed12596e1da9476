// The store's vocabulary: what it keeps (objects by kind, organization and bag), how a write
// treats what exists, and what a search is asked and answers.
import type { IndexLimits } from "../limits.js";

/** What kind of object a row of the objects table holds. */
export type ObjectKind = "node" | "role" | "environment" | "client" | "data_bag" | "item" | "cookbook";

/** An object as stored, with its ETag. */
export interface StoredObject<T = Record<string, unknown>> {
  name: string;
  data: T;
  etag: string;
  updatedAt: string;
}

/** Where an object lives: organization, kind, and the bag for data bag items (cookbook name for cookbook versions). */
export interface ObjectRef {
  org: string;
  kind: ObjectKind;
  name: string;
  bag?: string;
}

/** How a write treats an existing object. */
export interface PutOptions {
  /** create: fail if it exists (`conflict`); update: fail if missing (`not_found`); upsert: either. */
  mode: "create" | "update" | "upsert";
  /** The ETag the caller last read; the write fails (`stale`) when the object changed since. */
  ifMatch?: string;
  /** Search index name and the document search sees of the object, kept in step with it in the same transaction. */
  search?: { idx: string; document: Record<string, unknown> };
}

/** One page of names. */
export interface NamePage {
  total: number;
  names: string[];
}

/** Options of a search. */
export interface SearchOptions {
  start: number;
  rows: number;
  /**
   * Order of hits: `created` (the default: the order objects were first stored, in which hits
   * come out of the index, so a page costs no sort of every hit), `name`, or a flattened key's
   * smallest value (then name).
   */
  sort?: "created" | "name" | { key: string };
  descending?: boolean;
  /** Partial search: top-level attributes of what search sees (a node's merged attributes) to read from each hit instead of the whole document. */
  attributes?: readonly string[];
  /**
   * Partial search answered whole by the database where it can (SQLite): each hit comes back as
   * the JSON text of its result row, `{"name":..,"url":urlPrefix+name,"data":{key: value at path}}`,
   * in `SearchHit.row`; a path into an attribute that is missing or not a hash gives null. Hits come
   * without `row` where the database does not (PostgreSQL), with `attributes` then.
   */
  partialRows?: { urlPrefix: string; entries: ReadonlyArray<{ key: string; path: readonly string[] }> };
}

/** How a store behaves (apart from where its data is). */
export interface StoreOptions {
  /** Keep recent search results (count and page of ids) while what they depend on is unchanged (SQLite). Default true. */
  searchCache?: boolean;
  /** What one object may add to the search index (a save past them is refused). Default DEFAULT_INDEX_LIMITS. */
  indexLimits?: IndexLimits;
}

/** Where the store keeps its data. */
export type StoreLocation = { sqliteFile: string } | { postgresUrl: string; schema?: string; maxConnections?: number };

/** One search hit: its whole document as JSON text, or the attributes asked for. */
export interface SearchHit {
  name: string;
  json?: string;
  /** The attributes of `SearchOptions.attributes` the hit has (as search sees it), as JSON text. */
  attributes?: Record<string, string>;
  /** The hit's partial search row as JSON text (`SearchOptions.partialRows`). */
  row?: string;
}
