// GET /health: unsigned, for load balancers and `sous server status`.
import type { FastifyInstance } from "fastify";
import type { RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";


/** Mounts the health route. */
export function registerHealthRoutes(app: FastifyInstance, { store }: RouteContext): void {
  app.get(`${API_PREFIX}/health`, { config: { public: true } }, async () => ({ status: "ok", store: store.dialect }));
}
