// Search: a Lucene-style query over an index (node, role, environment, client or a data bag),
// answered with whole documents, or with partial search (POST) the values at named paths.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { badRequest } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { searchEntry } from "../objects.js";
import type { Params, Query, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { jsonBody, need, page } from "../request.js";
import { parsePartialKeys, PartialKeysError, valueAtPath } from "../../protocol/partial-search.js";
import type { PartialKeys } from "../../protocol/partial-search.js";
import { parseQuery } from "../search/query.js";
import type { ObjectKind, SearchOptions } from "../store/store.js";
import { requireBag } from "./data-bags.js";

/** Mounts the search routes. */
export function registerSearchRoutes(app: FastifyInstance, { store }: RouteContext): void {
  const v = API_PREFIX;

  const searchScope = async (org: string, index: string): Promise<{ idx: string; kind: ObjectKind; bag: string }> => {
    if (index === "node" || index === "role" || index === "environment" || index === "client") return { idx: index, kind: index, bag: "" };
    await requireBag(store, org, index);
    return { idx: `bag:${index}`, kind: "item", bag: index };
  };

  app.get(`${v}/orgs/:org/search`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const bags = await store.list(org!, "data_bag");
    return { indexes: ["node", "role", "environment", "client", ...bags.names] };
  });

  const runSearch = async (request: FastifyRequest, reply: FastifyReply, partial: Record<string, string[]> | undefined) => {
    const { org, index } = request.params as Params;
    need(request, index === "client" ? "org-admin" : "org-read");
    const query = request.query as Query;
    const { start, rows } = page(query);
    const parsed = parseQuery(query.q ?? "*:*");
    const scope = await searchScope(org!, index!);
    const sort = parseSort(query.sort);
    // Partial search reads the top-level attributes its paths start in; a path to the whole view (`[]`) needs whole documents.
    const paths = partial ? Object.values(partial) : [];
    const attributes = partial && paths.every((path) => path.length > 0) ? [...new Set(paths.map((path) => path[0]!))] : undefined;
    const kindPath = index === "node" || index === "role" || index === "environment" || index === "client" ? `${index}s` : `data/${index}`;
    const urlPrefix = `${API_PREFIX}/orgs/${org}/${kindPath}/`;
    const partialRows = partial && attributes ? { urlPrefix, entries: Object.entries(partial).map(([key, path]) => ({ key, path })) } : undefined;
    const result = await store.search({ org: org!, ...scope }, parsed, { start, rows, ...sort, ...(attributes ? { attributes } : {}), ...(partialRows ? { partialRows } : {}) });
    if (!partial) {
      // Whole documents go out as stored: no parse and serialize of a page of large nodes.
      const documents = index === "client" ? result.hits.map((hit) => JSON.stringify({ ...(JSON.parse(hit.json!) as JsonObject), public_key: undefined })) : result.hits.map((hit) => hit.json!);
      return reply.type("application/json; charset=utf-8").send(`{"total":${result.total},"start":${start},"rows":[${documents.join(",")}]}`);
    }
    const entries = Object.entries(partial).map(([key, path]) => ({ key: JSON.stringify(key), path }));
    const rowsJson = result.hits.map((hit) => {
      // Put together by the database (SQLite).
      if (hit.row !== undefined) return hit.row;
      // A path to a top-level attribute is answered with its stored JSON as is; deeper paths walk into it.
      const view = hit.attributes ? undefined : searchEntry(scope.kind as "node", JSON.parse(hit.json!) as JsonObject, scope.bag).document;
      const data = entries.map(({ key, path }) => {
        let value: string;
        if (view) value = JSON.stringify(valueAtPath(view, path));
        else {
          const json = hit.attributes![path[0]!];
          value = json === undefined ? "null" : path.length === 1 ? json : JSON.stringify(valueAtPath(JSON.parse(json), path.slice(1)));
        }
        return `${key}:${value}`;
      });
      return `{"name":${JSON.stringify(hit.name)},"url":${JSON.stringify(`${urlPrefix}${hit.name}`)},"data":{${data.join(",")}}}`;
    });
    return reply.type("application/json; charset=utf-8").send(`{"total":${result.total},"start":${start},"rows":[${rowsJson.join(",")}]}`);
  };

  app.get(`${v}/orgs/:org/search/:index`, (request, reply) => runSearch(request, reply, undefined));
  app.post(`${v}/orgs/:org/search/:index`, (request, reply) => runSearch(request, reply, partialSpec(jsonBody(request))));
}

/** `sort=` of a search: nothing (creation order), `name`, or a flattened key, each with asc or desc. */
function parseSort(sort: string | undefined): Pick<SearchOptions, "sort" | "descending"> {
  if (sort === undefined || sort.trim() === "") return {};
  const match = /^\s*([A-Za-z0-9_.:@-]+)(?:\s+(asc|desc|ASC|DESC))?\s*$/.exec(sort);
  if (!match) throw badRequest("invalid_parameter", `sort='${sort}' must be "KEY" or "KEY asc|desc"`);
  const key = match[1]!.replace(/\./g, "_");
  const descending = (match[2] ?? "asc").toLowerCase() === "desc";
  return { sort: key === "name" ? "name" : { key }, descending };
}

function partialSpec(body: unknown): PartialKeys {
  try {
    return parsePartialKeys(body, "partial search body");
  } catch (error) {
    if (error instanceof PartialKeysError) throw badRequest("invalid_body", error.message);
    throw error;
  }
}
