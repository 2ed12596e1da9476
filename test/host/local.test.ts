/** LocalHost against the shared Host contract. */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { LocalHost } from "../../src/host/local.js";
import { scratch } from "../helpers.js";
import { hostContract } from "./contract.js";

const dir = scratch("sous-local-host-");
const host = new LocalHost();
hostContract("LocalHost", () => ({ host, dir }), { skip: process.getuid?.() !== 0 ? "needs root (chown and running as another user)" : false });

describe("LocalHost specifics", { skip: process.getuid?.() !== 0 ? "needs root" : false }, () => {
  test("a timeout kills the command's children too, so it returns at once", async () => {
    const started = performance.now();
    const result = await host.exec({ shell: "sleep 30; echo late" }, { timeoutMs: 300 });
    assert.equal(result.timedOut, true);
    assert.equal(result.stdout, "");
    assert.ok(performance.now() - started < 20_000, "the shell's sleep kept the command alive");
  });

  test("a command run as a user gets that user's supplementary groups", async (t) => {
    // The real account database is read-only here: find a user that already has a supplementary group.
    const groups = readFileSync("/etc/group", "utf8").split("\n").map((line) => line.split(":"));
    const withMember = groups.find((fields) => fields[3] && fields[3].split(",").some((member) => member !== "root" && member !== ""));
    if (!withMember) {
      t.skip("no account here has a supplementary group");
      return;
    }
    const member = withMember[3]!.split(",").find((m) => m !== "root" && m !== "")!;
    const result = await host.exec(["id", "-G"], { user: member });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.ok(result.stdout.trim().split(" ").includes(withMember[2]!), `groups of ${member}: ${result.stdout}`);
  });

  test("an atomic write with an owner keeps a setuid mode", async () => {
    const path = join(dir, "setuid-tool");
    await host.writeFileAtomic(path, "#!/bin/sh\n", { mode: 0o4755, uid: 65534, gid: 65534 });
    const info = statSync(path);
    assert.equal(info.mode & 0o7777, 0o4755);
    assert.equal(info.uid, 65534);
  });
});
