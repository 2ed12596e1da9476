// Data bags and their items: a bag is a named index of JSON items, each searchable by the bag's name.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { badRequest, notFound } from "../errors.js";
import { checkName, normalizeItem, searchEntry } from "../objects.js";
import type { Params, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { ifMatch, jsonBody, jsonObjectBody, listNames, need, sendObject } from "../request.js";
import type { Store } from "../store/store.js";

/** Throws 404 unless the organization has that data bag. */
export async function requireBag(store: Store, org: string, bag: string): Promise<void> {
  if (!(await store.get({ org, kind: "data_bag", name: bag }))) throw notFound("data bag", bag);
}

/** Mounts the data bag and item routes. */
export function registerDataBagRoutes(app: FastifyInstance, { store }: RouteContext): void {
  const v = API_PREFIX;

  app.get(`${v}/orgs/:org/data`, async (request) => {
    need(request, "org-read");
    return listNames(store, request, "data_bag");
  });

  app.post(`${v}/orgs/:org/data`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const name = checkName("data bag", body?.name);
    if (["node", "role", "environment", "client"].includes(name)) throw badRequest("invalid_name", `'${name}' is a built-in search index; choose another data bag name`);
    await store.put({ org: org!, kind: "data_bag", name }, { name }, { mode: "create" });
    return reply.code(201).send({ name });
  });

  app.get(`${v}/orgs/:org/data/:bag`, async (request) => {
    const { org, bag } = request.params as Params;
    need(request, "org-read");
    await requireBag(store, org!, bag!);
    return listNames(store, request, "item", bag);
  });

  app.delete(`${v}/orgs/:org/data/:bag`, async (request) => {
    const { org, bag } = request.params as Params;
    need(request, "org-admin");
    await store.transaction(async (t) => {
      if (!(await t.delete({ org: org!, kind: "data_bag", name: bag! }))) throw notFound("data bag", bag!);
      await t.deleteAllInBag(org!, "item", bag!);
    });
    return { name: bag };
  });

  const putItem = async (request: FastifyRequest, reply: FastifyReply, mode: "create" | "upsert", urlName?: string): Promise<FastifyReply> => {
    const { org, bag } = request.params as Params;
    need(request, "org-admin");
    const data = normalizeItem(jsonBody(request), urlName);
    await requireBag(store, org!, bag!);
    const match = ifMatch(request);
    const { etag, created } = await store.put({ org: org!, kind: "item", bag: bag!, name: data.id as string }, data, { mode, ...(match ? { ifMatch: match } : {}), search: searchEntry("item", data, bag) });
    return sendObject(reply, created ? 201 : 200, data, etag);
  };
  app.post(`${v}/orgs/:org/data/:bag`, (request, reply) => putItem(request, reply, "create"));
  app.put(`${v}/orgs/:org/data/:bag/:item`, (request, reply) => putItem(request, reply, "upsert", (request.params as Params).item));

  app.get(`${v}/orgs/:org/data/:bag/:item`, async (request, reply) => {
    const { org, bag, item } = request.params as Params;
    need(request, "org-read");
    const found = await store.get({ org: org!, kind: "item", bag: bag!, name: item! });
    if (!found) throw notFound("data bag item", `${bag}/${item}`);
    return sendObject(reply, 200, found.data, found.etag);
  });

  app.delete(`${v}/orgs/:org/data/:bag/:item`, async (request) => {
    const { org, bag, item } = request.params as Params;
    need(request, "org-admin");
    if (!(await store.delete({ org: org!, kind: "item", bag: bag!, name: item! }, ifMatch(request)))) throw notFound("data bag item", `${bag}/${item}`);
    return { name: item };
  });
}
