// The routes of a collection of named JSON objects (nodes, roles, environments): list, create,
// read, write and delete, each object indexed for search in the same transaction as its write.
import type { FastifyInstance } from "fastify";
import type { Permission } from "../auth.js";
import { notFound } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { searchEntry } from "../objects.js";
import type { Params, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { ifMatch, jsonBody, listNames, need, sendObject, sendStored } from "../request.js";

/** One collection: its path under the organization, its kind and how a body becomes an object. */
export interface Collection {
  path: string;
  kind: "node" | "role" | "environment";
  /** Checks a body (named by the URL when `name` is given) and returns the object to store. */
  normalize(body: unknown, name?: string): JsonObject;
  /** Who may create or write the object of that name. Default org-admin. */
  writePermission?(name: string): Permission;
  /** Throws when the object of that name may not be deleted. */
  checkDelete?(name: string): void;
}

/** Mounts a collection's routes. */
export function registerCollectionRoutes(app: FastifyInstance, { store }: RouteContext, collection: Collection): void {
  const { path, kind, normalize } = collection;
  const writePermission = collection.writePermission ?? ((): Permission => "org-admin");
  const v = API_PREFIX;
  app.get(`${v}/orgs/:org/${path}`, async (request) => {
    need(request, "org-read");
    return listNames(store, request, kind);
  });
  app.post(`${v}/orgs/:org/${path}`, async (request, reply) => {
    const { org } = request.params as Params;
    const data = normalize(jsonBody(request));
    need(request, writePermission(data.name as string));
    const { etag, json } = await store.put({ org: org!, kind, name: data.name as string }, data, { mode: "create", search: searchEntry(kind, data) });
    return sendStored(reply, 201, json, etag);
  });
  app.get(`${v}/orgs/:org/${path}/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, "org-read");
    const found = await store.get({ org: org!, kind, name: name! });
    if (!found) throw notFound(kind, name!);
    return sendObject(reply, 200, found.data, found.etag);
  });
  app.put(`${v}/orgs/:org/${path}/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, writePermission(name!));
    const data = normalize(jsonBody(request), name);
    const match = ifMatch(request);
    const { etag, created, json } = await store.put({ org: org!, kind, name: name! }, data, { mode: "upsert", ...(match ? { ifMatch: match } : {}), search: searchEntry(kind, data) });
    return sendStored(reply, created ? 201 : 200, json, etag);
  });
  app.delete(`${v}/orgs/:org/${path}/:name`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    collection.checkDelete?.(name!);
    if (!(await store.delete({ org: org!, kind, name: name! }, ifMatch(request)))) throw notFound(kind, name!);
    return { name };
  });
}
