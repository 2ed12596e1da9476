// Nodes: a node writes its own object (its client is named like it); administrators write any.
import type { FastifyInstance } from "fastify";
import { normalizeNode } from "../objects.js";
import type { RouteContext } from "../request.js";
import { registerCollectionRoutes } from "./collection.js";

/** Mounts the node routes. */
export function registerNodeRoutes(app: FastifyInstance, context: RouteContext): void {
  registerCollectionRoutes(app, context, { path: "nodes", kind: "node", normalize: normalizeNode, writePermission: (name) => ({ node: name }) });
}
