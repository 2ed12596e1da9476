// The search() and dataBagItem() recipes call: argument checks, the backend's answer, decryption
// of encrypted items, and errors a recipe author can act on. An error is thrown from the
// recipe's own call, so the run's problem names the recipe's file and line.
import { decryptItem, keyFromSecret, loadSecretFile } from "../client/encrypted-data-bag.js";
import { isSealedValue } from "../protocol/sealed-value.js";
import { SousError } from "../core/errors.js";
import { PartialKeysError, parsePartialKeys } from "../protocol/partial-search.js";
import type { SearchBackend, SearchDocument } from "./backend.js";
import { SearchError } from "./backend.js";

/** Options of a recipe's `search`: `keys` maps each result name to the attribute path it reads (partial search). */
export interface RecipeSearchOptions {
  keys?: Readonly<Record<string, readonly string[]>>;
}

/** Options of a recipe's `dataBagItem`: the secret of an encrypted item, as text or a file. */
export interface DataBagItemOptions {
  secret?: string;
  secretFile?: string;
}

const NO_SOURCE =
  "this run has nowhere to search: converge with a Sous server configured (sous.config.ts server, SOUS_SERVER_URL or ~/.sous/config.json), keep nodes/ and data_bags/ folders of JSON in the repository, or pass --search-dir DIR";

/** A recipe's search() and dataBagItem(), over the run's backend (asked for on first use). */
export function recipeSearchFunctions(backend: () => SearchBackend | undefined): {
  search(index: string, query: string, options?: RecipeSearchOptions): SearchDocument[];
  dataBagItem(bag: string, id: string, options?: DataBagItemOptions): SearchDocument;
} {
  return {
    search(index, query, options = {}) {
      if (typeof index !== "string" || index === "") throw new SousError("bad-search", `search(index, query): index must be "node", "role", "environment", "client" or a data bag name, not ${JSON.stringify(index)}`);
      if (typeof query !== "string") throw new SousError("bad-search", `search(${JSON.stringify(index)}, query): query must be a string such as "role:web", not ${JSON.stringify(query)}`);
      const call = `search(${JSON.stringify(index)}, ${JSON.stringify(query)})`;
      let keys;
      try {
        keys = options.keys === undefined ? undefined : parsePartialKeys(options.keys, `${call} keys`);
      } catch (error) {
        if (error instanceof PartialKeysError) throw new SousError("bad-search", error.message);
        throw error;
      }
      const source = backend();
      if (!source) throw new SousError("no-search-source", `${call}: ${NO_SOURCE}`);
      try {
        return source.search(index, query, keys);
      } catch (error) {
        if (error instanceof SearchError) throw new SousError("search-failed", `${call}: ${error.message}`);
        throw error;
      }
    },
    dataBagItem(bag, id, options = {}) {
      const call = `dataBagItem(${JSON.stringify(bag)}, ${JSON.stringify(id)})`;
      if (typeof bag !== "string" || bag === "" || typeof id !== "string" || id === "") throw new SousError("bad-data-bag-item", `${call}: the bag and the item id must be non-empty strings`);
      const source = backend();
      if (!source) throw new SousError("no-search-source", `${call}: ${NO_SOURCE}`);
      let item: SearchDocument | undefined;
      try {
        item = source.dataBagItem(bag, id);
      } catch (error) {
        if (error instanceof SearchError) throw new SousError("data-bag-item-failed", `${call}: ${error.message}`);
        throw error;
      }
      if (!item) throw new SousError("no-data-bag-item", `${call}: data bag item '${bag}/${id}' does not exist in ${source.description}`);
      const encrypted = Object.values(item).some(isSealedValue);
      if (!encrypted) return item;
      if (options.secret === undefined && options.secretFile === undefined) throw new SousError("encrypted-data-bag-item", `${call}: the item is encrypted: pass { secret } or { secretFile } to read it`);
      try {
        const key = options.secretFile !== undefined ? loadSecretFile(options.secretFile) : keyFromSecret(options.secret!);
        return decryptItem(item, key);
      } catch (error) {
        throw new SousError("encrypted-data-bag-item", `${call}: cannot decrypt the item: ${(error as Error).message}`);
      }
    },
  };
}
