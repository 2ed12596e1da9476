// The Sous API client used by the CLI (and by recipes and agents): signs every request, turns
// the server's errors and unreachable servers into messages a person can act on.
import { readFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import type { IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { errorOfBody } from "../protocol/errors.js";
import type { ClientBody, DataBagItemBody, EnvironmentBody, NameList, NodeBody, OrgBody, RoleBody, SearchResult } from "../protocol/bodies.js";
import type { CookbookManifest, ResolvedCookbooks } from "../protocol/manifest.js";
import { orgPath, orgsPath } from "../protocol/paths.js";
import type { NodeStatusList, ReportList, RunReportBody, RunRequestBody, RunRequestProgress } from "../protocol/reports.js";
import { signRequest } from "../protocol/signing.js";

/** The API's bodies, for whoever uses this client (the CLI, the agent, deploys). */
export type { ClientBody, CookbookManifest, DataBagItemBody, EnvironmentBody, NameList, NodeBody, NodeStatusList, OrgBody, ReportList, ResolvedCookbooks, RoleBody, RunReportBody, RunRequestBody, RunRequestProgress, SearchResult };
export type { NodeStatusEntry, ReportSummary } from "../protocol/reports.js";
export type { PartialSearchRow } from "../protocol/bodies.js";

/** The kinds of object that live in an organization under their plural path, and their bodies. */
export interface ObjectBodies {
  nodes: NodeBody;
  roles: RoleBody;
  environments: EnvironmentBody;
  clients: ClientBody;
}

/** One of those kinds. */
export type ObjectKind = keyof ObjectBodies;

/** A path with the query of the parameters given (undefined ones are left out). */
function withQuery(path: string, parameters: Readonly<Record<string, string | number | undefined>>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) query.set(name, String(value));
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** Where the server is and who is asking. */
export interface ClientOptions {
  /** e.g. http://127.0.0.1:8787 */
  serverUrl: string;
  /** Organization the requests act in. */
  org?: string;
  /** Client name that signs (a server administrator is `server:NAME`). */
  client: string;
  /** Private key (PEM text) or a path to it. */
  privateKey?: string;
  privateKeyFile?: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** PEM certificates trusted for an HTTPS server instead of the system's (an agent's pinned server certificate). */
  ca?: string;
}

/** An error answer from the server, or a failure to reach it. */
export class SousApiError extends Error {
  /** Creates an API error: status 0 means the server could not be reached. */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = "SousApiError";
  }
}

/** A response: status, ETag and parsed body. */
export interface ApiResponse<T> {
  status: number;
  etag?: string;
  body: T;
}

/** An answer as it came off the wire. */
export interface RawResponse {
  status: number;
  statusText: string;
  etag: string | undefined;
  bytes: Buffer;
}

/** Options of one request. */
export interface RequestOptions {
  /** A JSON value, or raw bytes sent as application/octet-stream. */
  body?: unknown;
  ifMatch?: string;
  /** Send no signature (public routes such as registration with a token). */
  unsigned?: boolean;
  /** Return the body as bytes. */
  raw?: boolean;
}

/** OpenSSL's codes for a certificate chain that does not lead to a trusted root. */
const UNTRUSTED_CERTIFICATE = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?)$/;

/** A signed-request client for one server, organization and identity. */
export class SousClient {
  private readonly key: KeyObject | undefined;

  constructor(readonly options: ClientOptions) {
    let pem = options.privateKey;
    if (pem === undefined && options.privateKeyFile !== undefined) {
      try {
        pem = readFileSync(options.privateKeyFile, "utf8");
      } catch (error) {
        throw new SousApiError(0, "key_unreadable", `cannot read the private key ${options.privateKeyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    if (pem !== undefined) {
      try {
        this.key = createPrivateKey(pem);
      } catch (error) {
        throw new SousApiError(0, "key_invalid", `the private key${options.privateKeyFile ? ` ${options.privateKeyFile}` : ""} is not a PEM private key: ${(error as Error).message}`);
      }
    }
  }

  /** The path of an organization-scoped route: `/api/v1/orgs/ORG/...parts` with each part URL-encoded. */
  orgPath(...parts: string[]): string {
    if (!this.options.org) throw new SousApiError(0, "no_org", "no organization is configured: pass --org or set SOUS_ORG (or run sous org create)");
    return orgPath(this.options.org, ...parts);
  }

  /** Sends a request and parses the answer; throws SousApiError on 4xx/5xx or when the server is unreachable. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const prepared = this.prepare(method, path, options);
    let response: RawResponse;
    try {
      response = await this.send(prepared.url, method, prepared.headersFor, prepared.body);
    } catch (error) {
      throw this.unreachable(error);
    }
    return this.interpret<T>(response, options);
  }

  /**
   * A request ready to send: its URL, its headers (signed unless `unsigned`; signed afresh for
   * every attempt, since the server accepts each request id once) and body bytes. Whoever sends it
   * some other way (recipes' search sends it from a worker thread, synchronously) hands the answer
   * to `interpret`.
   */
  prepare(method: string, path: string, options: RequestOptions = {}): { url: URL; headersFor: () => Record<string, string>; body: Buffer | undefined } {
    const url = new URL(path, this.options.serverUrl);
    const signedPath = url.pathname + url.search;
    let body: Buffer | undefined;
    const headers: Record<string, string> = {};
    if (options.body !== undefined) {
      if (Buffer.isBuffer(options.body)) {
        body = options.body;
        headers["content-type"] = "application/octet-stream";
      } else {
        body = Buffer.from(JSON.stringify(options.body));
        headers["content-type"] = "application/json";
      }
    }
    if (options.ifMatch !== undefined) headers["if-match"] = `"${options.ifMatch}"`;
    if (!options.unsigned && !this.key) throw new SousApiError(0, "no_key", `no private key for client '${this.options.client}': pass --key or set SOUS_KEY`);
    const key = options.unsigned ? undefined : this.key;
    const headersFor = (): Record<string, string> => (key ? { ...headers, ...signRequest({ method, path: signedPath, ...(body ? { body } : {}), client: this.options.client, privateKey: key }) } : headers);
    return { url, headersFor, body };
  }

  /** The error for a request that got no answer (`reason`: the socket's error code or message). */
  unreachable(error: unknown): SousApiError {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    if (UNTRUSTED_CERTIFICATE.test(reason)) {
      return new SousApiError(0, "untrusted_certificate", `the Sous server at ${this.options.serverUrl} presented a TLS certificate this machine does not trust (${reason}); if it is self-signed or from your own CA, set NODE_EXTRA_CA_CERTS to that certificate's PEM file`);
    }
    return new SousApiError(0, "unreachable", `cannot reach the Sous server at ${this.options.serverUrl} (${reason}); is it running, and is the URL right?`);
  }

  /** Parses an answer; throws SousApiError for 4xx/5xx with the server's code and message. */
  interpret<T>(response: RawResponse, options: Pick<RequestOptions, "raw"> = {}): ApiResponse<T> {
    const { etag, bytes } = response;
    const ok = response.status >= 200 && response.status < 300;
    if (ok && options.raw) return { status: response.status, ...(etag ? { etag } : {}), body: bytes as T };
    let parsed: unknown = undefined;
    if (bytes.length > 0) {
      try {
        parsed = JSON.parse(bytes.toString("utf8"));
      } catch {
        parsed = bytes.toString("utf8");
      }
    }
    if (!ok) {
      const error = errorOfBody(parsed);
      throw new SousApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `the server answered ${response.status} ${response.statusText}`, parsed);
    }
    return { status: response.status, ...(etag ? { etag } : {}), body: parsed as T };
  }

  /**
   * One HTTP exchange over a kept-alive connection (node:http: a fraction of fetch's CPU per
   * request, which an agent on a small machine and a loaded server both notice). A request sent
   * on a reused connection that the server closed meanwhile fails before any answer; it is sent
   * once more on a new connection.
   */
  private send(url: URL, method: string, headersFor: () => Record<string, string>, body: Buffer | undefined, retried = false): Promise<RawResponse> {
    const https = url.protocol === "https:";
    const agent = https ? (this.httpsAgent ??= new HttpsAgent({ keepAlive: true, ...(this.options.ca ? { ca: this.options.ca } : {}) })) : (this.httpAgent ??= new HttpAgent({ keepAlive: true }));
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, { method, headers: { ...headersFor(), ...(body ? { "content-length": String(body.length) } : {}) }, agent });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (req.reusedSocket && !retried && (error.code === "ECONNRESET" || error.code === "EPIPE")) resolve(this.send(url, method, headersFor, body, true));
        else reject(error);
      });
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const etag = res.headers.etag?.replace(/^"(.*)"$/, "$1");
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", etag: etag || undefined, bytes: Buffer.concat(chunks) });
        });
      });
      req.end(body);
    });
  }

  private httpAgent: HttpAgent | undefined;
  private httpsAgent: HttpsAgent | undefined;

  /** Closes the kept-alive connections; a request in flight (a long-poll) fails as unreachable. */
  close(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = undefined;
    this.httpsAgent = undefined;
  }

  /** GET and return the body. */
  async get<T = unknown>(path: string): Promise<T> {
    return (await this.request<T>("GET", path)).body;
  }

  /** The organizations (a server administrator's request). */
  async listOrgs(): Promise<{ names: string[] }> {
    return this.get(orgsPath());
  }

  /** Creates an organization with its first administrator and its validator (a server administrator's request). */
  async createOrg(body: { name: string; full_name?: string; admin: { name: string; public_key: string }; validator?: { public_key: string } }): Promise<void> {
    await this.request("POST", orgsPath(), { body });
  }

  /** The path of the organizations (`/api/v1/orgs`), or of one organization. */
  orgsPath(name?: string): string {
    return orgsPath(name);
  }

  /** The configured organization. */
  async getOrg(): Promise<OrgBody> {
    return this.get(this.orgPath());
  }

  /** Changes an organization's full name (a server administrator's request). */
  async updateOrg(name: string, fullName: string): Promise<void> {
    await this.request("PUT", orgsPath(name), { body: { name, full_name: fullName } });
  }

  /** Deletes an organization and everything in it (a server administrator's request). */
  async deleteOrg(name: string): Promise<void> {
    await this.request("DELETE", orgsPath(name));
  }

  /** A page of the names of one kind of object. */
  async listObjects(kind: ObjectKind, page: { start?: number; rows?: number } = {}): Promise<NameList> {
    return this.get(withQuery(this.orgPath(kind), page));
  }

  /** An object with its ETag; throws SousApiError 404 when there is none. */
  async getObject<K extends ObjectKind>(kind: K, name: string): Promise<ApiResponse<ObjectBodies[K]>> {
    return this.request<ObjectBodies[K]>("GET", this.orgPath(kind, name));
  }

  /** Creates an object (409 when one of that name exists); answers with it as stored. */
  async createObject<K extends ObjectKind>(kind: K, body: Partial<ObjectBodies[K]> & Record<string, unknown>): Promise<ObjectBodies[K]> {
    return (await this.request<ObjectBodies[K]>("POST", this.orgPath(kind), { body })).body;
  }

  /** Creates or replaces an object; with `ifMatch`, only if it did not change since that ETag (else 412). */
  async putObject<K extends ObjectKind>(kind: K, name: string, body: Partial<ObjectBodies[K]> & Record<string, unknown>, ifMatch?: string): Promise<ApiResponse<ObjectBodies[K]>> {
    return this.request<ObjectBodies[K]>("PUT", this.orgPath(kind, name), { body, ...(ifMatch ? { ifMatch } : {}) });
  }

  /** Deletes an object. */
  async deleteObject(kind: ObjectKind, name: string): Promise<void> {
    await this.request("DELETE", this.orgPath(kind, name));
  }

  /** The node of that name, with its ETag. */
  async getNode(name: string): Promise<ApiResponse<NodeBody>> {
    return this.getObject("nodes", name);
  }

  /** A page of the data bags' names. */
  async listDataBags(): Promise<NameList> {
    return this.get(this.orgPath("data"));
  }

  /** Creates a data bag. */
  async createDataBag(name: string): Promise<void> {
    await this.request("POST", this.orgPath("data"), { body: { name } });
  }

  /** Deletes a data bag and its items. */
  async deleteDataBag(bag: string): Promise<void> {
    await this.request("DELETE", this.orgPath("data", bag));
  }

  /** A page of the item names of a data bag. */
  async listItems(bag: string): Promise<NameList> {
    return this.get(this.orgPath("data", bag));
  }

  /** A data bag item, with its ETag. */
  async getItem(bag: string, id: string): Promise<ApiResponse<DataBagItemBody>> {
    return this.request<DataBagItemBody>("GET", this.orgPath("data", bag, id));
  }

  /** Creates an item in a bag (409 when its id is taken). */
  async createItem(bag: string, item: DataBagItemBody): Promise<DataBagItemBody> {
    return (await this.request<DataBagItemBody>("POST", this.orgPath("data", bag), { body: item })).body;
  }

  /** Creates or replaces an item; with `ifMatch`, only if it did not change since that ETag. */
  async putItem(bag: string, item: DataBagItemBody, ifMatch?: string): Promise<DataBagItemBody> {
    return (await this.request<DataBagItemBody>("PUT", this.orgPath("data", bag, item.id), { body: item, ...(ifMatch ? { ifMatch } : {}) })).body;
  }

  /** Deletes an item. */
  async deleteItem(bag: string, id: string): Promise<void> {
    await this.request("DELETE", this.orgPath("data", bag, id));
  }

  /** Registers this machine's client: signed by the validator, or unsigned with a one-time bootstrap `token`. */
  async registerClient(body: { name: string; public_key: string; token?: string }): Promise<void> {
    await this.request("POST", this.orgPath("clients", "register"), { body, ...(body.token !== undefined ? { unsigned: true } : {}) });
  }

  /** Replaces a client's public key. */
  async rekeyClient(name: string, publicKey: string): Promise<void> {
    await this.request("PUT", this.orgPath("clients", name, "key"), { body: { public_key: publicKey } });
  }

  /** Lets a revoked client register again. */
  async deleteRevocation(name: string): Promise<void> {
    await this.request("DELETE", this.orgPath("clients", name, "revocation"));
  }

  /** A one-time token a new node registers with, valid for `ttlSeconds`. */
  async createBootstrapToken(ttlSeconds: number): Promise<{ token: string; expires_at: string }> {
    return (await this.request<{ token: string; expires_at: string }>("POST", this.orgPath("bootstrap-tokens"), { body: { ttl_seconds: ttlSeconds } })).body;
  }

  /** Every cookbook and its versions, newest first. */
  async listCookbooks(): Promise<{ cookbooks: Record<string, string[]> }> {
    return this.get(this.orgPath("cookbooks"));
  }

  /** The versions of one cookbook, newest first. */
  async cookbookVersions(name: string): Promise<{ name: string; versions: string[] }> {
    return this.get(this.orgPath("cookbooks", name));
  }

  /** A cookbook version's manifest (`_latest` for the newest). */
  async getCookbook(name: string, version = "_latest"): Promise<CookbookManifest> {
    return this.get(this.orgPath("cookbooks", name, version));
  }

  /** Uploads a cookbook version's manifest (its files first, with `putFile`); `force` replaces a frozen one. */
  async putCookbook(manifest: Omit<CookbookManifest, "frozen"> & { frozen?: boolean }, options: { force?: boolean } = {}): Promise<void> {
    await this.request("PUT", `${this.orgPath("cookbooks", manifest.name, manifest.version)}${options.force ? "?force=true" : ""}`, { body: manifest });
  }

  /** Deletes a cookbook version. */
  async deleteCookbook(name: string, version: string): Promise<void> {
    await this.request("DELETE", this.orgPath("cookbooks", name, version));
  }

  /** Which of these file checksums the server does not have yet. */
  async missingFiles(checksums: readonly string[]): Promise<string[]> {
    return (await this.request<{ missing: string[] }>("POST", this.orgPath("cookbooks", "check"), { body: { checksums } })).body.missing;
  }

  /** Uploads a cookbook file, addressed by its SHA-256. */
  async putFile(sha256: string, content: Buffer): Promise<void> {
    await this.request("PUT", this.orgPath("files", sha256), { body: content });
  }

  /** A cookbook file's bytes. */
  async getFile(sha256: string): Promise<Buffer> {
    return (await this.request<Buffer>("GET", this.orgPath("files", sha256), { raw: true })).body;
  }

  /** The server's resolution of a run list in an environment: its recipes and the cookbook versions they need. */
  async resolveCookbooks(environment: string, runList: readonly string[]): Promise<ResolvedCookbooks> {
    return (await this.request<ResolvedCookbooks>("POST", this.orgPath("environments", environment, "cookbook_versions"), { body: { run_list: runList } })).body;
  }

  /** Posts a run report (a repeat of its id is accepted and stored once). */
  async postReport(report: RunReportBody): Promise<void> {
    await this.request("POST", this.orgPath("reports"), { body: report });
  }

  /** Report summaries, newest first. */
  async listReports(filter: { node?: string; limit?: number | string; before?: string } = {}): Promise<ReportList> {
    return this.get(withQuery(this.orgPath("reports"), filter));
  }

  /** One whole report. */
  async getReport(id: string): Promise<RunReportBody> {
    return this.get(this.orgPath("reports", id));
  }

  /** The last check-in of each node a query finds (all nodes by default). */
  async nodeStatus(filter: { q?: string; interval?: number } = {}): Promise<NodeStatusList> {
    return this.get(withQuery(this.orgPath("node-status"), filter));
  }

  /** Asks the nodes a search finds to converge now. */
  async createRunRequest(query: string): Promise<RunRequestBody> {
    return (await this.request<RunRequestBody>("POST", this.orgPath("run-requests"), { body: { query } })).body;
  }

  /** A run-now request and the reports that answered it so far. */
  async getRunRequest(id: string): Promise<RunRequestProgress> {
    return this.get(this.orgPath("run-requests", id));
  }

  /** A node's long-poll: its oldest pending run-now request, or undefined when none came within `waitSeconds`. */
  async waitRunRequest(node: string, waitSeconds: number): Promise<RunRequestBody | undefined> {
    const response = await this.request<RunRequestBody | undefined>("GET", withQuery(this.orgPath("nodes", node, "run-requests"), { wait: waitSeconds }));
    return response.status === 204 ? undefined : response.body;
  }

  /**
   * Searches an index (`node`, `role`, `environment`, `client` or a data bag). With `partial`
   * (result key → attribute path) each row is `{ name, url, data }` holding only those values.
   */
  async search<T = Record<string, unknown>>(index: string, query: string, options: { partial?: Record<string, string[] | string>; rows?: number; start?: number; sort?: string } = {}): Promise<SearchResult<T>> {
    const params = new URLSearchParams({ q: query });
    if (options.rows !== undefined) params.set("rows", String(options.rows));
    if (options.start !== undefined) params.set("start", String(options.start));
    if (options.sort !== undefined) params.set("sort", options.sort);
    const path = `${this.orgPath("search", index)}?${params}`;
    const response = options.partial ? await this.request<SearchResult<T>>("POST", path, { body: options.partial }) : await this.request<SearchResult<T>>("GET", path);
    return response.body;
  }

  /** Every hit of a search, fetched page by page. */
  async searchAll<T = Record<string, unknown>>(index: string, query: string, options: { partial?: Record<string, string[] | string>; pageSize?: number } = {}): Promise<T[]> {
    const rows: T[] = [];
    const pageSize = options.pageSize ?? 1000;
    for (;;) {
      const page = await this.search<T>(index, query, { ...(options.partial ? { partial: options.partial } : {}), rows: pageSize, start: rows.length });
      rows.push(...page.rows);
      if (page.rows.length === 0 || rows.length >= page.total) return rows;
    }
  }

  /** Saves a node (an agent's end-of-run save); with `ifMatch`, only if it did not change since that ETag. */
  async saveNode(node: { name: string } & Record<string, unknown>, ifMatch?: string): Promise<{ etag?: string }> {
    const response = await this.putObject("nodes", node.name, node, ifMatch);
    return response.etag ? { etag: response.etag } : {};
  }
}
