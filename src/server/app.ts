// The HTTP API (versioned under /api/v1): organizations and everything inside them, behind
// signed requests. request.ts holds what every route shares (signatures, JSON bodies, paging,
// errors); routes/ has one module per object kind, which only translates HTTP to store calls;
// rules live in objects.ts, cookbooks.ts, auth.ts and the store.
import Fastify from "fastify";
import type { FastifyInstance } from "fastify";
import { registerFleetRoutes } from "./fleet/routes.js";
import type { RouteContext } from "./request.js";
import { API_PREFIX } from "../protocol/paths.js";
import { installRequestHandling, jsonObjectBody, need } from "./request.js";
import { registerClientRoutes } from "./routes/clients.js";
import { registerCookbookRoutes } from "./routes/cookbooks.js";
import { registerDataBagRoutes } from "./routes/data-bags.js";
import { registerEnvironmentRoutes } from "./routes/environments.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerOrgRoutes } from "./routes/orgs.js";
import { registerRoleRoutes } from "./routes/roles.js";
import { registerSearchRoutes } from "./routes/search.js";
import type { Store } from "./store/store.js";


/** Options of the HTTP API. */
export interface AppOptions {
  store: Store;
  /** How far a request's timestamp may be from the server's clock. Default 5 minutes. */
  clockSkewMs?: number;
  /** Largest cookbook file. Default 8 MiB. */
  maxFileSize?: number;
  /** Largest JSON body. Default 4 MiB. */
  maxJsonBody?: number;
  /** Fastify's logger setting (off by default: the CLI decides what to print). */
  logger?: boolean;
  /** TLS certificate and key (PEM); plain HTTP when absent (e.g. behind a proxy). */
  https?: { cert: string; key: string };
  /** The agents' run interval (seconds): a node that has not reported for two is shown as missing. Default 1800. */
  runIntervalSeconds?: number;
}

/** Builds the server's HTTP application on a store (not yet listening). */
export function buildApp(options: AppOptions): FastifyInstance {
  const store = options.store;
  const app = Fastify({
    logger: options.logger ?? false,
    // The documented JSON limit; only the cookbook file route takes more (maxFileSize).
    bodyLimit: options.maxJsonBody ?? 4 * 1024 * 1024,
    // Object names may be 255 characters (fastify's default stops at 100).
    routerOptions: { maxParamLength: 1024 },
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;
  installRequestHandling(app, { store, clockSkewMs: options.clockSkewMs ?? 5 * 60_000, logger: options.logger === true });

  const context: RouteContext = { store, maxFileSize: options.maxFileSize ?? 8 * 1024 * 1024 };
  registerHealthRoutes(app, context);
  registerOrgRoutes(app, context);
  registerNodeRoutes(app, context);
  registerRoleRoutes(app, context);
  registerEnvironmentRoutes(app, context);
  registerClientRoutes(app, context);
  registerDataBagRoutes(app, context);
  registerSearchRoutes(app, context);
  registerCookbookRoutes(app, context);
  registerFleetRoutes(app, { store, prefix: API_PREFIX, need, jsonObjectBody, ...(options.runIntervalSeconds !== undefined ? { runIntervalSeconds: options.runIntervalSeconds } : {}) });
  return app;
}
