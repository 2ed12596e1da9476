/**
 * Recipes' search answers for runs while the server is down: an online run records every
 * answer its recipes got, and the last good run's answers are kept with the cache; a cached run
 * replays them, so a load balancer keeps the backends it last found instead of failing. A
 * search the last good run did not make has no answer and fails the run, naming it.
 */
import type { PartialKeys } from "../protocol/partial-search.js";
import { type SearchBackend, type SearchDocument, SearchError } from "../search/backend.js";

/** Answers by question: `search` index, query and keys, or `item` bag and id. */
export type SearchAnswers = Record<string, SearchDocument[] | SearchDocument | null>;

function searchKey(index: string, query: string, keys: PartialKeys | undefined): string {
  return JSON.stringify(["search", index, query, keys ?? null]);
}

function itemKey(bag: string, id: string): string {
  return JSON.stringify(["item", bag, id]);
}

/** Passes every question to the backend `open` makes (on the first question) and keeps each answer. */
export class RecordingSearchBackend implements SearchBackend {
  readonly answers: SearchAnswers = {};
  private inner: SearchBackend | undefined;

  constructor(private readonly open: () => SearchBackend) {}

  private backend(): SearchBackend {
    return (this.inner ??= this.open());
  }

  get description(): string {
    return this.backend().description;
  }

  search(index: string, query: string, keys?: PartialKeys): SearchDocument[] {
    const hits = this.backend().search(index, query, keys);
    this.answers[searchKey(index, query, keys)] = hits;
    return hits;
  }

  dataBagItem(bag: string, id: string): SearchDocument | undefined {
    const item = this.backend().dataBagItem(bag, id);
    this.answers[itemKey(bag, id)] = item ?? null;
    return item;
  }

  close(): void {
    this.inner?.close?.();
  }
}

/** Answers with what the last good run was told. */
export class ReplaySearchBackend implements SearchBackend {
  readonly description: string;

  constructor(
    private readonly answers: SearchAnswers,
    recordedAt: string,
  ) {
    this.description = `the answers of the last good run (${recordedAt}), the server being unavailable`;
  }

  private answer(key: string, what: string): SearchDocument[] | SearchDocument | null {
    if (!(key in this.answers)) throw new SearchError(`the server is unavailable and the last good run did not ask ${what}, so there is no answer to give`);
    return this.answers[key]!;
  }

  search(index: string, query: string, keys?: PartialKeys): SearchDocument[] {
    return this.answer(searchKey(index, query, keys), `search(${JSON.stringify(index)}, ${JSON.stringify(query)})`) as SearchDocument[];
  }

  dataBagItem(bag: string, id: string): SearchDocument | undefined {
    return (this.answer(itemKey(bag, id), `dataBagItem(${JSON.stringify(bag)}, ${JSON.stringify(id)})`) as SearchDocument | null) ?? undefined;
  }
}
