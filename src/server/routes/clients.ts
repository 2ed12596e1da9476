// API clients (people and nodes, each a public key): created by administrators, registered by a
// new node with the validator's signature or a one-time bootstrap token, re-keyed, and revoked.
import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { publicKeyProblem, SIGNATURE_HEADERS } from "../../protocol/signing.js";
import type { ClientRecord } from "../auth.js";
import { ApiError, badRequest, notFound } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { checkName, searchEntry } from "../objects.js";
import type { Params, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { ifMatch, jsonObjectBody, listNames, need, sendObject } from "../request.js";
import type { Store } from "../store/store.js";

/** Writes a client (and its search entry); returns its ETag. */
export async function putClient(t: Store, org: string, client: ClientRecord, mode: "create" | "upsert"): Promise<string> {
  const data = { ...client, created_at: client.created_at ?? new Date().toISOString() };
  const { etag } = await t.put({ org, kind: "client", name: client.name }, data, { mode, search: searchEntry("client", data) });
  return etag;
}

/** A client's name, checked: an object name without ':' (the signature's user id separator). */
export function checkClientName(name: unknown): string {
  const checked = checkName("client", name);
  if (checked.includes(":")) throw badRequest("invalid_name", `client name '${checked}' may not contain ':'`);
  return checked;
}

/** Mounts the client, registration and bootstrap token routes. */
export function registerClientRoutes(app: FastifyInstance, { store }: RouteContext): void {
  const v = API_PREFIX;

  app.get(`${v}/orgs/:org/clients`, async (request) => {
    need(request, "org-admin");
    return listNames(store, request, "client");
  });

  app.post(`${v}/orgs/:org/clients`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const client = newClientRecord(body, body.admin === true);
    // An administrator creating a client by name is what allows a revoked name again.
    await store.transaction(async (t) => {
      await t.allowClientName(org!, client.name);
      await putClient(t, org!, client, "create");
    });
    return reply.code(201).send(publicClient(client));
  });

  // A new node registers itself: signed by the validator, or carrying a one-time bootstrap token.
  // Public (a token in the body): a small body limit, since it is read before anyone is known.
  app.post(`${v}/orgs/:org/clients/register`, { config: { public: true }, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const { org } = request.params as Params;
    if (!(await store.getOrg(org!))) throw notFound("organization", org!);
    const body = jsonObjectBody(request);
    const token = typeof body?.token === "string" ? body.token : undefined;
    if (token === undefined) {
      if (!request.principal) throw new ApiError(401, "unsigned", `registration needs the validator's signature (headers ${Object.values(SIGNATURE_HEADERS).join(", ")}) or a bootstrap "token" in the body`);
      need(request, "validator");
    }
    const client = newClientRecord(body, false);
    // A revoked client stays out, whoever holds the validator key or a token, until an
    // administrator creates it again. The token is used up only by a registration that succeeds:
    // it and the new client are one transaction.
    await store.transaction(async (t) => {
      if (await t.isClientNameRevoked(org!, client.name)) {
        throw new ApiError(403, "revoked", `client '${client.name}' was revoked and cannot register again; an administrator of '${org}' can allow it (sous client create ${client.name}, or DELETE ${API_PREFIX}/orgs/${org}/clients/${client.name}/revocation)`);
      }
      if (token !== undefined && !(await t.consumeBootstrapToken(org!, createHash("sha256").update(token).digest("hex")))) {
        throw new ApiError(401, "bad_token", "the bootstrap token is unknown, already used or expired; ask an administrator for a new one (sous client bootstrap-token)");
      }
      await putClient(t, org!, client, "create");
    });
    return reply.code(201).send(publicClient(client));
  });

  app.post(`${v}/orgs/:org/bootstrap-tokens`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = request.body && (request.body as Buffer).length > 0 ? jsonObjectBody(request) : {};
    const ttl = body.ttl_seconds === undefined ? 3600 : Number(body.ttl_seconds);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 86400) throw badRequest("invalid_field", "ttl_seconds must be a whole number from 1 to 604800");
    const token = randomBytes(24).toString("base64url");
    const expires = new Date(Date.now() + ttl * 1000);
    await store.addBootstrapToken(org!, createHash("sha256").update(token).digest("hex"), expires, request.principal!.name);
    return reply.code(201).send({ token, expires_at: expires.toISOString() });
  });

  app.get(`${v}/orgs/:org/clients/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, { client: name! });
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    return sendObject(reply, 200, publicClient(found.data), found.etag);
  });

  // Admin and validator flags only: a key changes through .../key, so that edits never swap it by accident.
  app.put(`${v}/orgs/:org/clients/:name`, async (request, reply) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    const updated = updatedClientRecord(found.data, body);
    // An organization whose last admin demoted itself could be repaired only by a server administrator.
    const principal = request.principal!;
    if (principal.kind === "client" && principal.name === name && found.data.admin && !updated.admin) throw new ApiError(403, "forbidden", `client '${name}' cannot take away its own admin flag; another administrator of '${org}' can`);
    const { etag } = await store.put({ org: org!, kind: "client", name: name! }, updated, { mode: "update", ifMatch: ifMatch(request) ?? found.etag, search: searchEntry("client", { ...updated }) });
    return sendObject(reply, 200, publicClient(updated), etag);
  });

  app.put(`${v}/orgs/:org/clients/:name/key`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, { client: name! });
    const body = jsonObjectBody(request);
    const problem = publicKeyProblem(body?.public_key);
    if (problem) throw badRequest("invalid_public_key", problem);
    const found = await store.get<ClientRecord>({ org: org!, kind: "client", name: name! });
    if (!found) throw notFound("client", name!);
    const updated = { ...found.data, public_key: body.public_key as string };
    await store.put({ org: org!, kind: "client", name: name! }, updated, { mode: "update", ifMatch: found.etag, search: searchEntry("client", updated) });
    return publicClient(updated);
  });

  app.delete(`${v}/orgs/:org/clients/:name`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    await store.transaction(async (t) => {
      if (!(await t.delete({ org: org!, kind: "client", name: name! }, ifMatch(request)))) throw notFound("client", name!);
      // Revoked, not only deleted: the validator key or a token cannot bring the name back.
      await t.revokeClientName(org!, name!);
    });
    return { name };
  });

  // An administrator lets a revoked name register again (re-keying a machine: sous bootstrap --force).
  app.delete(`${v}/orgs/:org/clients/:name/revocation`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-admin");
    await store.allowClientName(org!, name!);
    return { name };
  });
}

/** What the API shows of a client. */
function publicClient(client: ClientRecord): JsonObject {
  return { name: client.name, admin: client.admin, validator: client.validator, public_key: client.public_key, created_at: client.created_at };
}

function updatedClientRecord(current: ClientRecord, body: JsonObject): ClientRecord {
  const unknown = Object.keys(body).filter((key) => !["name", "public_key", "admin", "validator", "created_at"].includes(key));
  if (unknown.length > 0) throw badRequest("invalid_field", `only admin and validator of a client can be changed; remove ${unknown.join(", ")}`);
  if (body.name !== undefined && body.name !== current.name) throw badRequest("name_mismatch", `a client cannot be renamed ('${current.name}' to '${String(body.name)}'): create a new client and delete this one`);
  if (body.public_key !== undefined && body.public_key !== current.public_key) throw badRequest("public_key_immutable", `the public key of '${current.name}' changes only through PUT .../clients/${current.name}/key (sous client rotate-key ${current.name})`);
  for (const flag of ["admin", "validator"] as const) {
    if (body[flag] !== undefined && typeof body[flag] !== "boolean") throw badRequest("invalid_field", `${flag} must be true or false`);
  }
  return { ...current, admin: (body.admin as boolean | undefined) ?? current.admin, validator: (body.validator as boolean | undefined) ?? current.validator };
}

function newClientRecord(body: JsonObject, admin: boolean): ClientRecord {
  const name = checkClientName(body?.name);
  const problem = publicKeyProblem(body.public_key);
  if (problem) throw badRequest("invalid_public_key", `${problem} (the private key stays with the client: generate a pair and send the public half)`);
  return { name, public_key: body.public_key as string, admin, validator: false, created_at: new Date().toISOString() };
}
