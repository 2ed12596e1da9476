// Environments (the _default one cannot be deleted), and the cookbook versions an environment
// resolves a run list to: what an agent downloads before it converges.
import type { FastifyInstance } from "fastify";
import { cookbookOfRecipe, resolveCookbooks } from "../cookbooks.js";
import { ApiError, notFound } from "../errors.js";
import type { JsonObject } from "../objects.js";
import { checkRunList, normalizeEnvironment } from "../objects.js";
import type { Params, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { jsonObjectBody, need } from "../request.js";
import { runListNames } from "../search/flatten.js";
import type { Store } from "../store/store.js";
import { loadManifests } from "./cookbooks.js";
import { registerCollectionRoutes } from "./collection.js";

/** Mounts the environment routes. */
export function registerEnvironmentRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store } = context;
  registerCollectionRoutes(app, context, {
    path: "environments",
    kind: "environment",
    normalize: normalizeEnvironment,
    checkDelete: (name) => {
      if (name === "_default") throw new ApiError(405, "not_allowed", "the _default environment cannot be deleted");
    },
  });

  app.post(`${API_PREFIX}/orgs/:org/environments/:name/cookbook_versions`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-read");
    const body = jsonObjectBody(request);
    const runList = checkRunList(body?.run_list, "run_list");
    const environment = await store.get<JsonObject>({ org: org!, kind: "environment", name: name! });
    if (!environment) throw notFound("environment", name!);
    const recipes = await expandRunList(store, org!, name!, runList);
    const resolved = resolveCookbooks(recipes.map(cookbookOfRecipe), await loadManifests(store, org!), (environment.data.cookbook_versions ?? {}) as Record<string, string>, name!);
    return { recipes, cookbooks: Object.fromEntries(resolved) };
  });
}

/** Expands roles (with their per-environment run lists) into the ordered list of recipes. */
async function expandRunList(store: Store, org: string, environment: string, runList: readonly string[], seen = new Set<string>()): Promise<string[]> {
  const recipes: string[] = [];
  for (const entry of runList) {
    const role = runListNames([entry], "role")[0];
    if (role !== undefined) {
      if (seen.has(role)) continue;
      seen.add(role);
      const found = await store.get<JsonObject>({ org, kind: "role", name: role });
      if (!found) throw new ApiError(412, "unresolvable", `the run list names role '${role}', which does not exist`);
      const envLists = (found.data.env_run_lists ?? {}) as Record<string, string[]>;
      const list = envLists[environment] ?? (found.data.run_list as string[]);
      recipes.push(...(await expandRunList(store, org, environment, list, seen)));
    } else {
      for (const recipe of runListNames([entry], "recipe")) if (!recipes.includes(recipe)) recipes.push(recipe);
    }
  }
  return [...new Set(recipes)];
}
