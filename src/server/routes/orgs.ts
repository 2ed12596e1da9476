// Organizations: created (with their first admin, validator and _default environment), read,
// renamed in full name only, and deleted with everything in them, by a server administrator.
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { publicKeyProblem } from "../../protocol/signing.js";
import { ApiError, badRequest, notFound } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { checkName, normalizeEnvironment, searchEntry } from "../objects.js";
import type { Params, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { ifMatch, jsonObjectBody, need, sendObject } from "../request.js";
import { checkClientName, putClient } from "./clients.js";

/** Mounts the organization routes. */
export function registerOrgRoutes(app: FastifyInstance, { store }: RouteContext): void {
  const v = API_PREFIX;

  app.post(`${v}/orgs`, async (request, reply) => {
    need(request, "server-admin");
    const body = jsonObjectBody(request);
    const name = checkName("organization", body?.name);
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw badRequest("invalid_name", `organization name '${name}' must be lower-case letters, digits, '-' or '_'`);
    const admin = (body.admin ?? {}) as JsonObject;
    const adminName = checkClientName(admin.name);
    const adminProblem = publicKeyProblem(admin.public_key);
    if (adminProblem) throw badRequest("invalid_public_key", `admin.${adminProblem}`);
    const validator = body.validator as JsonObject | undefined;
    if (validator !== undefined) {
      const problem = publicKeyProblem(validator.public_key);
      if (problem) throw badRequest("invalid_public_key", `validator.${problem}`);
    }
    const validatorName = `${name}-validator`;
    await store.transaction(async (t) => {
      await t.createOrg(name, typeof body.full_name === "string" ? body.full_name : name);
      await putClient(t, name, { name: adminName, public_key: admin.public_key as string, admin: true, validator: false }, "create");
      if (validator) await putClient(t, name, { name: validatorName, public_key: validator.public_key as string, admin: false, validator: true }, "create");
      const env = normalizeEnvironment({ name: "_default", description: "The default environment" });
      await t.put({ org: name, kind: "environment", name: "_default" }, env, { mode: "create", search: searchEntry("environment", env) });
    });
    return reply.code(201).send({ name, admin: adminName, ...(validator ? { validator: validatorName } : {}) });
  });

  app.get(`${v}/orgs`, async (request) => {
    need(request, "server-admin");
    return { names: await store.listOrgs() };
  });

  app.get(`${v}/orgs/:org`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const found = await store.getOrg(org!);
    if (!found) throw notFound("organization", org!);
    return sendObject(reply, 200, found, orgEtag(found));
  });

  // Only the full name changes; the name is the organization's identity in every path.
  app.put(`${v}/orgs/:org`, async (request, reply) => {
    const { org } = request.params as Params;
    need(request, "server-admin");
    const body = jsonObjectBody(request);
    if (body.name !== undefined && body.name !== org) throw badRequest("name_mismatch", `an organization cannot be renamed: the body names '${String(body.name)}', the URL '${org}'`);
    const unknown = Object.keys(body).filter((key) => !["name", "full_name", "created_at"].includes(key));
    if (unknown.length > 0) throw badRequest("invalid_field", `an organization has only name, full_name and created_at; remove ${unknown.join(", ")}`);
    if (typeof body.full_name !== "string" || body.full_name.trim() === "") throw badRequest("invalid_field", "full_name must be a non-empty string");
    const current = await store.getOrg(org!);
    if (!current) throw notFound("organization", org!);
    const match = ifMatch(request);
    const stale = (): ApiError => new ApiError(412, "precondition_failed", `organization '${org}' changed since you read it (ETag ${match} no longer matches); read it again and retry`);
    if (match !== undefined && match !== orgEtag(current)) throw stale();
    // With If-Match, the update applies only while the full name is still the one that ETag was made of.
    if (!(await store.updateOrg(org!, body.full_name, match !== undefined ? current.full_name : undefined))) {
      if (!(await store.getOrg(org!))) throw notFound("organization", org!);
      throw stale();
    }
    const updated = { ...current, full_name: body.full_name };
    return sendObject(reply, 200, updated, orgEtag(updated));
  });

  app.delete(`${v}/orgs/:org`, async (request) => {
    const { org } = request.params as Params;
    need(request, "server-admin");
    if (!(await store.deleteOrg(org!))) throw notFound("organization", org!);
    return { name: org };
  });
}

/** An organization's ETag: made of its content, since the orgs table keeps none. */
function orgEtag(org: { name: string; full_name: string }): string {
  return createHash("sha256").update(`${org.name}\0${org.full_name}`).digest("base64url").slice(0, 12);
}
