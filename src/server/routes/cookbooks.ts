// Cookbooks: content-addressed files uploaded first, then a version's manifest naming them;
// listings, the latest version, and frozen versions that only force replaces.
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import semver from "semver";
import { satisfiesConstraint } from "../../protocol/constraints.js";
import type { CookbookManifest } from "../../protocol/manifest.js";
import { normalizeManifest } from "../cookbooks.js";
import { ApiError, badRequest, notFound } from "../errors.js";
import type { Params, Query, RouteContext } from "../request.js";
import { API_PREFIX } from "../../protocol/paths.js";
import { ifMatch, jsonBody, jsonObjectBody, need, sendObject } from "../request.js";
import type { Store } from "../store/store.js";

/** Every cookbook version's manifest of an organization, by cookbook name. */
export async function loadManifests(store: Store, org: string): Promise<Map<string, CookbookManifest[]>> {
  const all = new Map<string, CookbookManifest[]>();
  for (const { bag, name } of await store.listAcrossBags(org, "cookbook")) {
    const found = await store.get<CookbookManifest>({ org, kind: "cookbook", bag, name });
    if (found) all.set(bag, [...(all.get(bag) ?? []), found.data]);
  }
  return all;
}

/** Mounts the cookbook and cookbook file routes. */
export function registerCookbookRoutes(app: FastifyInstance, { store, maxFileSize }: RouteContext): void {
  const v = API_PREFIX;

  app.get(`${v}/orgs/:org/cookbooks`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-read");
    const cookbooks: Record<string, string[]> = {};
    for (const { bag, name } of await store.listAcrossBags(org!, "cookbook")) (cookbooks[bag] ??= []).push(name);
    for (const versions of Object.values(cookbooks)) versions.sort(semver.rcompare);
    return { cookbooks };
  });

  app.get(`${v}/orgs/:org/cookbooks/:name`, async (request) => {
    const { org, name } = request.params as Params;
    need(request, "org-read");
    const { names } = await store.list(org!, "cookbook", name);
    if (names.length === 0) throw notFound("cookbook", name!);
    return { name, versions: names.sort(semver.rcompare) };
  });

  app.get(`${v}/orgs/:org/cookbooks/:name/:version`, async (request, reply) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-read");
    const resolved = version === "_latest" ? (await store.list(org!, "cookbook", name)).names.sort(semver.rcompare)[0] : version;
    const found = resolved === undefined ? undefined : await store.get<CookbookManifest>({ org: org!, kind: "cookbook", bag: name!, name: resolved });
    if (!found) throw notFound("cookbook version", `${name}@${version}`);
    return sendObject(reply, 200, found.data, found.etag);
  });

  app.post(`${v}/orgs/:org/cookbooks/check`, async (request) => {
    const { org } = request.params as Params;
    need(request, "org-admin");
    const body = jsonObjectBody(request);
    if (!Array.isArray(body?.checksums) || !body.checksums.every((sum) => typeof sum === "string" && /^[0-9a-f]{64}$/.test(sum))) {
      throw badRequest("invalid_field", "checksums must be an array of SHA-256 hex strings");
    }
    return { missing: await store.missingBlobs(org!, body.checksums as string[]) };
  });

  // A file over maxFileSize is refused on its declared length, before it is read: 413 file_too_large.
  const tooLarge = { code: "file_too_large", what: "the cookbook file" };
  app.put(`${v}/orgs/:org/files/:sha256`, { bodyLimit: maxFileSize, config: { tooLarge } }, async (request, reply) => {
    const { org, sha256 } = request.params as Params;
    need(request, "org-admin");
    const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
    const actual = createHash("sha256").update(body).digest("hex");
    if (actual !== sha256) throw badRequest("checksum_mismatch", `the content's SHA-256 is ${actual}, not ${sha256}`);
    await store.putBlob(org!, sha256!, body);
    return reply.code(201).send({ sha256 });
  });

  app.get(`${v}/orgs/:org/files/:sha256`, async (request, reply) => {
    const { org, sha256 } = request.params as Params;
    need(request, "org-read");
    const content = await store.getBlob(org!, sha256!);
    if (!content) throw notFound("file", sha256!);
    return reply.type("application/octet-stream").send(content);
  });

  app.put(`${v}/orgs/:org/cookbooks/:name/:version`, async (request, reply) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-admin");
    const manifest = normalizeManifest(jsonBody(request), name!, version!, { maxFileSize, maxFiles: 10_000 });
    const missing = await store.missingBlobs(org!, manifest.files.map((file) => file.sha256));
    if (missing.length > 0) throw badRequest("missing_files", `${missing.length} file(s) of ${name}@${version} were not uploaded first (PUT ${API_PREFIX}/orgs/${org}/files/SHA256)`, { missing });
    // The manifest's sizes are what clients trust before they download: they must be the files' own.
    const sizes = await store.blobSizes(org!, manifest.files.map((file) => file.sha256));
    const wrong = manifest.files.find((file) => sizes.get(file.sha256) !== file.size);
    if (wrong) throw badRequest("size_mismatch", `${name}@${version}: '${wrong.path}' is listed as ${wrong.size} bytes, but the uploaded file ${wrong.sha256} has ${sizes.get(wrong.sha256)}`);
    const all = await loadManifests(store, org!);
    for (const [dependency, range] of Object.entries(manifest.dependencies)) {
      if (!(all.get(dependency) ?? []).some((other) => satisfiesConstraint(other.version, range))) {
        throw badRequest("missing_dependency", `${name}@${version} depends on ${dependency} ${range}, and no such version is on the server; upload it first`);
      }
    }
    const force = (request.query as Query).force === "true";
    const ref = { org: org!, kind: "cookbook" as const, bag: name!, name: version! };
    const { etag, created } = await store.transaction(async (t) => {
      const existing = await t.get<CookbookManifest>(ref);
      if (existing?.data.frozen && !force) throw new ApiError(409, "frozen", `${name}@${version} is frozen; upload a new version (or pass force=true)`);
      return t.put(ref, manifest, { mode: "upsert" });
    });
    return sendObject(reply, created ? 201 : 200, manifest, etag);
  });

  app.delete(`${v}/orgs/:org/cookbooks/:name/:version`, async (request) => {
    const { org, name, version } = request.params as Params;
    need(request, "org-admin");
    if (!(await store.delete({ org: org!, kind: "cookbook", bag: name!, name: version! }, ifMatch(request)))) throw notFound("cookbook version", `${name}@${version}`);
    return { name, version };
  });
}
