// Search without a server: a folder holding `nodes/NAME.json` (node objects as the server stores
// them) and `data_bags/BAG/ITEM.json`, the layout of a Chef repository. Each search reads the
// files afresh and answers with the server's meaning: the same normalization of each object, the
// same view search sees (a node's merged attributes) and the same query rules.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ApiError } from "../server/errors.js";
import { normalizeItem, normalizeNode, searchEntry } from "../server/objects.js";
import { flattenForSearch } from "../server/search/flatten.js";
import { matchesRows } from "../server/search/match.js";
import type { PartialKeys } from "../protocol/partial-search.js";
import { partialData } from "../protocol/partial-search.js";
import { parseQuery } from "../server/search/query.js";
import type { SearchBackend, SearchDocument } from "./backend.js";
import { SearchError } from "./backend.js";

function jsonFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => join(dir, name));
}

function readObject(file: string, normalize: (input: unknown, name: string) => SearchDocument): SearchDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new SearchError(`${file}: ${(error as Error).message}`);
  }
  try {
    return normalize(parsed, basename(file, ".json"));
  } catch (error) {
    if (error instanceof ApiError) throw new SearchError(`${file}: ${error.message}`);
    throw error;
  }
}

/** A SearchBackend over a folder of JSON (`nodes/`, `data_bags/BAG/`). */
export class DirectorySearchBackend implements SearchBackend {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = `the folder ${dir} (nodes/, data_bags/)`;
  }

  search(index: string, query: string, keys?: PartialKeys): SearchDocument[] {
    let parsed;
    try {
      parsed = parseQuery(query);
    } catch (error) {
      if (error instanceof ApiError) throw new SearchError(error.message, error.details?.position as number | undefined);
      throw error;
    }
    const objects = this.objects(index);
    const hits: Array<{ name: string; data: SearchDocument; document: SearchDocument }> = [];
    for (const data of objects) {
      const { document } = index === "node" ? searchEntry("node", data) : searchEntry("item", data, index);
      if (matchesRows(parsed, flattenForSearch(document))) hits.push({ name: String(index === "node" ? data.name : data.id), data, document });
    }
    // Name order, as the server answers recipes: a config listing nodes comes out the same each run.
    hits.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return hits.map((hit) => (keys ? partialData(hit.document, keys) : hit.data));
  }

  dataBagItem(bag: string, id: string): SearchDocument | undefined {
    const file = join(this.dir, "data_bags", bag, `${id}.json`);
    if (basename(file) !== `${id}.json` || !existsSync(file)) return undefined;
    return readObject(file, normalizeItem);
  }

  private objects(index: string): SearchDocument[] {
    if (index === "node") return jsonFiles(join(this.dir, "nodes")).map((file) => readObject(file, normalizeNode));
    if (index === "role" || index === "environment" || index === "client") {
      throw new SearchError(`the ${index} index is searched on a Sous server; ${this.description} answers node and data bag searches`);
    }
    const bag = join(this.dir, "data_bags", index);
    if (basename(bag) !== index || !existsSync(bag)) throw new SearchError(`data bag '${index}' does not exist in ${this.description}`);
    return jsonFiles(bag).map((file) => readObject(file, normalizeItem));
  }
}
