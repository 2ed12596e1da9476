// Roles: run lists and attributes, written by administrators.
import type { FastifyInstance } from "fastify";
import { normalizeRole } from "../objects.js";
import type { RouteContext } from "../request.js";
import { registerCollectionRoutes } from "./collection.js";

/** Mounts the role routes. */
export function registerRoleRoutes(app: FastifyInstance, context: RouteContext): void {
  registerCollectionRoutes(app, context, { path: "roles", kind: "role", normalize: normalizeRole });
}
