/**
 * The end of a deploy on a host (the FINISH script, run here by /bin/sh in a temporary folder):
 * the mirror's housekeeping starts only when git's own thresholds say there is work, so the
 * usual deploy starts no git process for it; the log line and the marker are written either way.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FINISH } from "../../src/deploy/remote.js";

describe("the deploy's last step on a host", () => {
  let dir: string;
  let mirror: string;
  let calls: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sous-finish-"));
    mirror = join(dir, "repo");
    mkdirSync(join(mirror, "objects", "17"), { recursive: true });
    mkdirSync(join(mirror, "objects", "pack"), { recursive: true });
    writeFileSync(join(mirror, "HEAD"), "ref: refs/heads/main\n");
    mkdirSync(join(dir, "releases", "20261204000000"), { recursive: true });
    mkdirSync(join(dir, "releases", "20261203000000"), { recursive: true });
    // A git that only says it was started: what is asserted is whether the script starts one.
    calls = join(dir, "git-calls");
    mkdirSync(join(dir, "bin"));
    writeFileSync(join(dir, "bin", "git"), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${JSON.stringify(calls)}\n`);
    chmodSync(join(dir, "bin", "git"), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function finish(): void {
    const marker = join(dir, "releases", "20261204000000", ".sous-release");
    const result = spawnSync("/bin/sh", ["-c", FINISH, "sous", marker, '{"status":"good"}', join(dir, "revisions.log"), '{"outcome":"good"}', mirror, join(dir, "releases", "20261203000000")], {
      encoding: "utf8",
      env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(readFileSync(marker, "utf8"), '{"status":"good"}\n');
    assert.equal(readFileSync(join(dir, "revisions.log"), "utf8"), '{"outcome":"good"}\n');
    assert.equal(existsSync(join(dir, "releases", "20261203000000")), false, "the old release is removed");
  }

  /** Waits for the background housekeeping the script may have started (it is detached). */
  async function gitCalls(): Promise<string> {
    for (let waited = 0; waited < 1000 && !existsSync(calls); waited += 50) await new Promise((r) => setTimeout(r, 50));
    return existsSync(calls) ? readFileSync(calls, "utf8") : "";
  }

  it("starts no git process for a mirror with few loose objects and packs", async () => {
    for (let i = 0; i < 27; i++) writeFileSync(join(mirror, "objects", "17", `${String(i).padStart(38, "0")}`), "");
    for (let i = 0; i < 50; i++) writeFileSync(join(mirror, "objects", "pack", `pack-${i}.pack`), "");
    finish();
    assert.equal(await gitCalls(), "");
  });

  it("starts git maintenance when loose objects pass git's threshold", async () => {
    for (let i = 0; i < 28; i++) writeFileSync(join(mirror, "objects", "17", `${String(i).padStart(38, "0")}`), "");
    finish();
    assert.match(await gitCalls(), /^-C .*repo maintenance run --auto --quiet\n$/);
  });

  it("starts git maintenance when packs pass git's threshold", async () => {
    for (let i = 0; i < 51; i++) writeFileSync(join(mirror, "objects", "pack", `pack-${i}.pack`), "");
    finish();
    assert.match(await gitCalls(), /maintenance run --auto/);
  });
});
