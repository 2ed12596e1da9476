// The JSON bodies of the API's objects as the server answers with them (after it has filled in
// the defaults of what was sent), and the answers of its listings and searches. The server's
// validators (src/server/objects.ts) return these types; the client's typed methods
// (src/client/api.ts) return them to the CLI, the agent and recipes. Object types, not
// interfaces, so that each is also a plain JSON object (Record<string, unknown>) where one is taken.
import type { Json } from "./partial-search.js";

/** An attribute tree: any JSON object. */
export type Attributes = Record<string, unknown>;

/** A node: its environment, run list (`role[web]`, `recipe[nginx::server]`) and attributes at each precedence level. */
export type NodeBody = {
  name: string;
  chef_environment: string;
  run_list: string[];
  normal: Attributes;
  default: Attributes;
  override: Attributes;
  /** Facts gathered by the agent. */
  automatic: Attributes;
  /** The last run's summary, as the agent left it. */
  last_run?: Attributes;
};

/** A role: a run list (one per environment where it differs) and attributes. */
export type RoleBody = {
  name: string;
  description: string;
  run_list: string[];
  env_run_lists: Record<string, string[]>;
  default_attributes: Attributes;
  override_attributes: Attributes;
};

/** An environment: cookbook version constraints (`"~> 1.2"`, `">= 2.0"`) and attributes. */
export type EnvironmentBody = {
  name: string;
  description: string;
  cookbook_versions: Record<string, string>;
  default_attributes: Attributes;
  override_attributes: Attributes;
};

/** A data bag item: any JSON object whose `id` is its name (encrypted items hold sealed values). */
export type DataBagItemBody = { id: string } & Record<string, unknown>;

/** An API client (a person or a node): its public key and what it may do. */
export type ClientBody = {
  name: string;
  admin: boolean;
  validator: boolean;
  public_key: string;
  created_at: string;
};

/** An organization. */
export type OrgBody = {
  name: string;
  full_name: string;
  created_at: string;
};

/** A page of names (`GET .../nodes`, `.../data/BAG`, `.../clients`, ...). */
export type NameList = {
  total: number;
  start: number;
  names: string[];
};

/** A page of search hits: whole documents, or partial rows. */
export interface SearchResult<T = Record<string, unknown>> {
  total: number;
  start: number;
  rows: T[];
};

/** One row of a partial search: the object's name and URL, and the value at each requested path. */
export type PartialSearchRow = {
  name: string;
  url: string;
  data: Record<string, Json>;
};
