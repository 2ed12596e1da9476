/**
 * The server resolves a run list's cookbook versions as the workstation does: one constraint
 * translation and one solver, so Chef's `~> 1` has its upper bound in both places.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { SousClient } from "../../src/client/api.js";
import { resolveCookbooks } from "../../src/protocol/resolve.js";
import { backends, createOrg, rejectsWith, startTestServer } from "./helpers.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const VERSIONS = ["1.0.0", "1.4.0", "1.9.2", "2.0.0-rc.1", "2.0.0", "2.1.0"];
const PINS = ["~> 1", "~> 1.4", "~> 1.4.0", "~> 2.0", "= 1.4.0", ">= 1.5", "< 2.0", "^1.0.0", "1.x"];

for (const backend of backends.slice(0, 1)) {
  describe(`cookbook version resolution on the server (${backend.name})`, { skip: backend.skip ?? false }, () => {
    let ctx: Awaited<ReturnType<typeof startTestServer>>;
    let admin: SousClient;
    before(async () => {
      ctx = await startTestServer(backend);
      ({ admin } = await createOrg(ctx.server.url, ctx.serverAdmin, "acme"));
      const content = "export default 1;";
      await admin.request("PUT", admin.orgPath("files", sha(content)), { body: Buffer.from(content) });
      const files = [{ path: "recipes/default.ts", sha256: sha(content), size: content.length }];
      for (const version of VERSIONS) await admin.request("PUT", admin.orgPath("cookbooks", "base", version), { body: { name: "base", version, files } });
      await admin.request("PUT", admin.orgPath("cookbooks", "web", "1.0.0"), { body: { name: "web", version: "1.0.0", dependencies: { base: "~> 1.4" }, files } });
    });
    after(async () => ctx?.cleanup());

    const serverChoice = async (pin: string, runList = ["recipe[base]"]) => {
      const environment = `env${sha(pin).slice(0, 8)}`;
      await admin.request("PUT", admin.orgPath("environments", environment), { body: { name: environment, cookbook_versions: { base: pin } } }).catch(() =>
        admin.request("POST", admin.orgPath("environments"), { body: { name: environment, cookbook_versions: { base: pin } } }),
      );
      const { body } = await admin.request<{ cookbooks: Record<string, { version: string }> }>("POST", admin.orgPath("environments", environment, "cookbook_versions"), { body: { run_list: runList } });
      return body.cookbooks.base?.version;
    };
    const workstationChoice = (pin: string, wanted = ["base"], dependencies: Record<string, Record<string, string>> = {}) => {
      const available = [...VERSIONS.map((version) => ({ name: "base", version, dependencies: {} })), { name: "web", version: "1.0.0", dependencies: dependencies.web ?? { base: "~> 1.4" } }];
      return resolveCookbooks(wanted, available, { base: pin }, "production").get("base")?.version;
    };

    test("~> 1 stays below 2.0.0 (and below its prereleases) on the server", async () => {
      assert.equal(await serverChoice("~> 1"), "1.9.2");
      assert.equal(await serverChoice("~> 1.4.0"), "1.4.0");
    });

    test("every pin picks the same version on the server as on the workstation, also through a dependency's ~> range", async () => {
      for (const pin of PINS) {
        assert.equal(await serverChoice(pin), workstationChoice(pin), `pin ${pin}`);
      }
      assert.equal(await serverChoice(">= 1.0", ["recipe[web]"]), workstationChoice(">= 1.0", ["web"]));
      assert.equal(await serverChoice(">= 1.0", ["recipe[web]"]), "1.9.2");
    });

    test("an unresolvable run list answers 412, naming the conflicting constraints and who set them", async () => {
      const error = await rejectsWith(serverChoice("~> 2.0", ["recipe[web]"]), 412, "unresolvable");
      assert.match(error.message, /base/);
      assert.match(error.message, /~> 1\.4 \(from web@1\.0\.0\)/);
      assert.match(error.message, /~> 2\.0 \(from environment env/);
      const missing = await rejectsWith(serverChoice("~> 1", ["recipe[nope]"]), 412, "unresolvable");
      assert.match(missing.message, /cookbook nope is needed by the run list but has not been uploaded to the server/);
    });
  });
}
