import assert from "node:assert/strict";
import { test } from "node:test";
import { apiErrorBody, errorOfBody } from "../../src/protocol/errors.js";
import { API_PREFIX, orgPath, orgsPath } from "../../src/protocol/paths.js";

test("each part of an organization path is one segment, whatever it holds", () => {
  assert.equal(orgsPath(), `${API_PREFIX}/orgs`);
  assert.equal(orgPath("acme", "data", "users", "a/b?c"), "/api/v1/orgs/acme/data/users/a%2Fb%3Fc");
  assert.equal(orgPath("acme"), "/api/v1/orgs/acme");
});

test("an error body the server builds is read back by the client with its details; other bodies are not errors", () => {
  const body = JSON.parse(JSON.stringify(apiErrorBody("missing_files", "2 file(s) were not uploaded first", { missing: ["aa", "bb"] })));
  assert.deepEqual(errorOfBody(body), { code: "missing_files", message: "2 file(s) were not uploaded first", missing: ["aa", "bb"] });
  assert.equal(errorOfBody("<html>502 Bad Gateway</html>"), undefined);
  assert.equal(errorOfBody({ error: "text" }), undefined);
});
