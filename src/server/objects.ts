// What each kind of object looks like on the wire, how a request body becomes one (validated,
// with defaults), and what search indexes of it.
import type { DataBagItemBody, EnvironmentBody, NodeBody, RoleBody } from "../protocol/bodies.js";
import { isSealedValue } from "../protocol/sealed-value.js";
import { constraintToRange } from "./cookbooks.js";
import { badRequest } from "./errors.js";
import { nodeSearchView } from "./search/flatten.js";

/** Names of nodes, roles, environments, clients, bags and items: what is safe in a URL and a file name. */
export const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,255}$/;

/** A plain JSON object. */
export type JsonObject = Record<string, unknown>;

/** Throws a 400 unless `name` is a valid object name. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name) || name === "." || name === "..") {
    throw badRequest("invalid_name", `${what} name ${JSON.stringify(name)} is invalid: use 1-255 letters, digits, '_', '-', '.' or ':'`);
  }
  return name;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectField(body: JsonObject, field: string, what: string): JsonObject {
  const value = body[field];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw badRequest("invalid_field", `${what}.${field} must be a JSON object`);
  return value;
}

const RUN_LIST_ENTRY = /^(?:(?:role|recipe)\[[A-Za-z0-9_.:@-]+\]|[A-Za-z0-9_.:@-]+)$/;

/** Validates a run list: an array of `role[name]`, `recipe[cookbook::recipe]` or bare recipe names (normalized to `recipe[...]`). */
export function checkRunList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badRequest("invalid_field", `${what} must be an array of "role[name]" or "recipe[name]"`);
  return value.map((entry, index) => {
    if (typeof entry !== "string" || !RUN_LIST_ENTRY.test(entry)) {
      throw badRequest("invalid_run_list", `${what}[${index}] is ${JSON.stringify(entry)}; expected "role[name]" or "recipe[cookbook::recipe]"`);
    }
    return entry.includes("[") ? entry : `recipe[${entry}]`;
  });
}

function requireBody(body: unknown, what: string): JsonObject {
  if (!isObject(body)) throw badRequest("invalid_body", `the request body must be a JSON object describing the ${what}`);
  return body;
}

function nameFrom(body: JsonObject, urlName: string | undefined, what: string, field = "name"): string {
  const name = body[field] ?? urlName;
  checkName(what, name);
  if (urlName !== undefined && name !== urlName) {
    throw badRequest("name_mismatch", `${what} ${field} '${String(name)}' in the body differs from '${urlName}' in the URL`);
  }
  return name as string;
}

function optionalString(body: JsonObject, field: string, what: string, fallback: string): string {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string") throw badRequest("invalid_field", `${what}.${field} must be a string`);
  return value;
}

/** A node from a request body: name, environment, run list, attributes at each level, the last run's summary. */
export function normalizeNode(input: unknown, urlName?: string): NodeBody {
  const body = requireBody(input, "node");
  const name = nameFrom(body, urlName, "node");
  const environment = optionalString(body, "chef_environment", "node", "_default");
  checkName("environment", environment);
  const node: NodeBody = {
    name,
    chef_environment: environment,
    run_list: checkRunList(body.run_list, "node.run_list"),
    normal: objectField(body, "normal", "node"),
    default: objectField(body, "default", "node"),
    override: objectField(body, "override", "node"),
    automatic: objectField(body, "automatic", "node"),
  };
  if (body.last_run !== undefined && body.last_run !== null) {
    const run = objectField(body, "last_run", "node");
    const status = run.status;
    if (status !== undefined && !["success", "failure", "running"].includes(String(status))) {
      throw badRequest("invalid_field", "node.last_run.status must be success, failure or running");
    }
    node.last_run = run;
  }
  return node;
}

/** A role from a request body. */
export function normalizeRole(input: unknown, urlName?: string): RoleBody {
  const body = requireBody(input, "role");
  const envRunLists = objectField(body, "env_run_lists", "role");
  const checkedEnvRunLists: Record<string, string[]> = {};
  for (const [env, list] of Object.entries(envRunLists)) {
    checkName("environment", env);
    checkedEnvRunLists[env] = checkRunList(list, `role.env_run_lists.${env}`);
  }
  return {
    name: nameFrom(body, urlName, "role"),
    description: optionalString(body, "description", "role", ""),
    run_list: checkRunList(body.run_list, "role.run_list"),
    env_run_lists: checkedEnvRunLists,
    default_attributes: objectField(body, "default_attributes", "role"),
    override_attributes: objectField(body, "override_attributes", "role"),
  };
}

/** An environment from a request body; cookbook_versions maps cookbook names to constraints like "~> 1.2" or ">= 2.0". */
export function normalizeEnvironment(input: unknown, urlName?: string): EnvironmentBody {
  const body = requireBody(input, "environment");
  const versions = objectField(body, "cookbook_versions", "environment");
  for (const [cookbook, constraint] of Object.entries(versions)) {
    checkName("cookbook", cookbook);
    if (typeof constraint !== "string") throw badRequest("invalid_field", `environment.cookbook_versions.${cookbook} must be a version constraint string such as "~> 1.2"`);
    constraintToRange(constraint);
  }
  return {
    name: nameFrom(body, urlName, "environment"),
    description: optionalString(body, "description", "environment", ""),
    cookbook_versions: versions as Record<string, string>,
    default_attributes: objectField(body, "default_attributes", "environment"),
    override_attributes: objectField(body, "override_attributes", "environment"),
  };
}

/** A data bag item from a request body: any JSON object whose `id` is its name. */
export function normalizeItem(input: unknown, urlName?: string): DataBagItemBody {
  const body = requireBody(input, "data bag item");
  const id = nameFrom(body, urlName, "data bag item", "id");
  return { ...body, id };
}

/**
 * The search index a kind of object lives in and the document search sees of it (what queries
 * match and partial search returns): a node's merged attributes, a client without its key. Each
 * carries its `chef_type` as in Chef (`node`, `role`, `environment`, `client`, `data_bag_item`),
 * and a data bag item its bag's name as `data_bag`, so `data_bag:users` finds every item of users.
 */
export function searchEntry(kind: "node" | "role" | "environment" | "client" | "item", data: JsonObject, bag?: string): { idx: string; document: JsonObject } {
  switch (kind) {
    case "node":
      return { idx: "node", document: nodeSearchView(data) };
    case "client": {
      // A client is searched by name and flags, never by its key.
      const { public_key: _key, ...visible } = data;
      return { idx: "client", document: { ...visible, chef_type: "client" } };
    }
    case "item": {
      // Ciphertext is noise to search: a sealed field is indexed as present, with no value.
      const visible = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, isSealedValue(value) ? null : value]));
      return { idx: `bag:${bag}`, document: { ...visible, data_bag: bag ?? "", chef_type: "data_bag_item" } };
    }
    default:
      return { idx: kind, document: { ...data, chef_type: kind } };
  }
}
