/**
 * known_hosts as OpenSSH writes and reads it: fixtures for the matching rules, and SshHost
 * against a real sshd on a loopback port other than 22, with files written by the real
 * ssh-keyscan and ssh.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkKnownHost, hostFieldMatches, knownHostName, parseKnownHosts, wildcardMatches } from "../../src/host/known-hosts.js";
import { SshHost, type SshOptions } from "../../src/host/ssh.js";
import { scratch } from "../helpers.js";
import { type LoopbackSshd, loopbackSshdUnavailable, startLoopbackSshd } from "../support/loopback-sshd.js";

describe("known_hosts matching (fixtures)", () => {
  it("names a host as OpenSSH does: plain on port 22, [host]:port elsewhere, lower case", () => {
    assert.equal(knownHostName("Web1.Example.COM", 22), "web1.example.com");
    assert.equal(knownHostName("127.0.0.1", 2222), "[127.0.0.1]:2222");
    assert.equal(knownHostName("::1", 2222), "[::1]:2222");
  });

  it("matches wildcards with [ ] and . as plain characters", () => {
    assert.ok(wildcardMatches("[127.0.0.1]:2222", "[127.0.0.1]:2222"));
    assert.ok(!wildcardMatches("[127.0.0.1]:2222", "1:2222"), "[...] is no character class");
    assert.ok(!wildcardMatches("10.0.0.1", "10a0b0c1"), ". is no wildcard");
    assert.ok(wildcardMatches("[10.0.0.*]:22?2", "[10.0.0.15]:2202"));
    assert.ok(wildcardMatches("*.EXAMPLE.com", "web.example.com"));
    assert.ok(!wildcardMatches("*.example.com", "example.com"));
    assert.ok(wildcardMatches("a*b*c", "aXbYbZc"));
  });

  it("applies lists and negation: a matching !pattern excludes the line; a port-22 entry does not name another port", () => {
    assert.ok(hostFieldMatches("web1,[127.0.0.1]:2222", "[127.0.0.1]:2222"));
    assert.ok(!hostFieldMatches("127.0.0.1", "[127.0.0.1]:2222"));
    assert.ok(!hostFieldMatches("[127.0.0.*]:2222,![127.0.0.1]:2222", "[127.0.0.1]:2222"));
    assert.ok(!hostFieldMatches("![127.0.0.1]:2222,*", "[127.0.0.1]:2222"), "negation wins wherever it stands");
    assert.ok(hostFieldMatches("[127.0.0.*]:2222,![127.0.0.9]:2222", "[127.0.0.1]:2222"));
    assert.ok(!hostFieldMatches("!*", "web1"), "only negations match nothing");
  });

  it("parses markers and skips comments, unknown markers and short lines; checks revoked, changed, CA-only and unknown", () => {
    const entries = parseKnownHosts(
      ["# comment", "", "@bogus web1 ssh-ed25519 AAAA1", "web1 ssh-ed25519", "web1,web2 ssh-ed25519 KEY1 comment words", "@revoked * ssh-ed25519 BAD", "@cert-authority *.ca.test ssh-ed25519 CA1"].join("\n"),
    );
    assert.deepEqual(
      entries.map((e) => [e.line, e.marker ?? "-", e.hosts]),
      [[5, "-", "web1,web2"], [6, "revoked", "*"], [7, "cert-authority", "*.ca.test"]],
    );
    assert.equal(checkKnownHost(entries, "web2", "ssh-ed25519", "KEY1").status, "known");
    assert.equal(checkKnownHost(entries, "web2", "ssh-ed25519", "KEY2").status, "changed");
    assert.equal(checkKnownHost(entries, "web2", "ssh-rsa", "KEY1").status, "changed", "the same blob claimed as another type is not the key recorded");
    assert.equal(checkKnownHost(entries, "other", "ssh-ed25519", "BAD").status, "revoked");
    assert.equal(checkKnownHost(entries, "db.ca.test", "ssh-ed25519", "KEY9").status, "certificate-expected");
    assert.equal(checkKnownHost(entries, "db.example", "ssh-ed25519", "KEY9").status, "unknown");
  });

  it("matches hashed names (|1|salt|hmac) of host and [host]:port", () => {
    // Salt and hash as `ssh-keygen -H` writes them: HMAC-SHA1 of the name, keyed by the salt.
    const salt = Buffer.alloc(20, 7);
    const hash = (name: string) => `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
    assert.ok(hostFieldMatches(hash("[127.0.0.1]:2222"), "[127.0.0.1]:2222"));
    assert.ok(!hostFieldMatches(hash("[127.0.0.1]:2222"), "127.0.0.1"));
    assert.ok(!hostFieldMatches("|1|garbage", "127.0.0.1"));
  });
});


const unavailable = loopbackSshdUnavailable();

describe("SshHost and known_hosts written by OpenSSH, on a port other than 22", { skip: unavailable ?? false }, () => {
  let sshd: LoopbackSshd;
  const dir = unavailable ? "" : scratch("sous-known-hosts-");
  let n = 0;
  const file = (text: string) => {
    const path = join(dir, `known_hosts_${++n}`);
    writeFileSync(path, text);
    return path;
  };
  const target = () => ({ user: "root", host: "127.0.0.1", port: sshd.port });
  const options = (knownHostsFile: string, extra: Partial<SshOptions> = {}): SshOptions => ({ identityFile: sshd.clientKey, knownHostsFile, connectTimeoutMs: 10_000, ...extra });
  const connect = async (knownHostsFile: string, extra: Partial<SshOptions> = {}) => (await SshHost.connect(target(), options(knownHostsFile, extra))).close();
  const refusal = async (knownHostsFile: string, extra: Partial<SshOptions> = {}) => {
    try {
      await connect(knownHostsFile, extra);
    } catch (error) {
      return error as Error & { code: string };
    }
    return assert.fail("the connection was accepted");
  };
  const keyscan = (...args: string[]) => execFileSync("ssh-keyscan", ["-p", String(sshd.port), ...args, "127.0.0.1"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  /** The real OpenSSH client, with none of this machine's configuration. */
  const ssh = (knownHostsFile: string, ...extra: string[]) =>
    spawnSync("ssh", ["-F", "/dev/null", "-p", String(sshd.port), "-i", sshd.clientKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null", ...extra, "root@127.0.0.1", "true"], { encoding: "utf8" });

  const sshdDir = unavailable ? "" : scratch("sous-loopback-sshd-");
  before(async () => {
    sshd = await startLoopbackSshd(sshdDir);
  });
  after(() => sshd?.stop());

  it("accepts the keys ssh-keyscan records as [127.0.0.1]:PORT, plain or hashed (-H), and an RSA-only record", async () => {
    const plain = keyscan();
    assert.match(plain, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `, "m"));
    await connect(file(plain));
    const hashed = keyscan("-H");
    assert.match(hashed, /^\|1\|/m);
    await connect(file(hashed));
    await connect(file(keyscan("-t", "rsa")));
  });

  it("refuses a changed key on the non-22 port even with --accept-new-host-keys, and leaves known_hosts as it was", async () => {
    const other = join(dir, "impostor");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const text = `[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`;
    const path = file(text);
    const error = await refusal(path, { acceptNewHostKeys: true });
    assert.equal(error.code, "ssh-host-key-changed");
    assert.match(error.message, new RegExp(`HOST KEY MISMATCH for \\[127\\.0\\.0\\.1\\]:${sshd.port}: .*${path.replace(/[.]/g, "\\.")}:1`));
    assert.equal(readFileSync(path, "utf8"), text);
    // The real client refuses it too: the same rule.
    assert.notEqual(ssh(path, "-o", "StrictHostKeyChecking=accept-new").status, 0);
  });

  it("accepts what the real ssh records (hashed or not), and the real ssh accepts what Sous records", async () => {
    for (const hash of ["yes", "no"]) {
      const path = file("");
      const run = ssh(path, "-o", "StrictHostKeyChecking=accept-new", "-o", `HashKnownHosts=${hash}`);
      assert.equal(run.status, 0, run.stderr);
      assert.match(readFileSync(path, "utf8"), hash === "yes" ? /^\|1\|/ : new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `));
      await connect(path);
    }
    const learned = file("# written by hand, no newline at the end");
    await connect(learned, { acceptNewHostKeys: true });
    const lines = readFileSync(learned, "utf8").split("\n");
    assert.match(lines[1]!, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `));
    const check = ssh(learned, "-o", "StrictHostKeyChecking=yes");
    assert.equal(check.status, 0, check.stderr);
  });

  it("follows patterns and negation: [127.0.0.*]:PORT matches, a matching !pattern or a port-22 entry leaves the host unknown", async () => {
    const key = sshd.hostKeys.ed25519;
    await connect(file(`[127.0.0.*]:${sshd.port} ${sshd.hostKeys.ecdsa}\n[127.0.0.*]:${sshd.port} ${key}\n`));
    for (const text of [`[127.0.0.*]:${sshd.port},![127.0.0.1]:${sshd.port} ${key}\n`, `127.0.0.1 ${key}\n`]) {
      const error = await refusal(file(text));
      assert.equal(error.code, "ssh-host-key-unknown", text);
    }
  });

  it("refuses a key marked @revoked, and a host known only through @cert-authority (no certificate checking: its plain key is not taken on trust)", async () => {
    const revoked = await refusal(file(`${keyscan()}@revoked * ${sshd.hostKeys.ed25519}\n@revoked * ${sshd.hostKeys.ecdsa}\n@revoked * ${sshd.hostKeys.rsa}\n`));
    assert.equal(revoked.code, "ssh-host-key-changed");
    assert.match(revoked.message, /is marked @revoked in .*:\d+; refusing to connect/);
    const ca = join(dir, "ca");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", ca]);
    const text = `@cert-authority [127.0.0.*]:${sshd.port} ${readFileSync(`${ca}.pub`, "utf8").trim()}\n`;
    const path = file(text);
    const error = await refusal(path, { acceptNewHostKeys: true });
    assert.equal(error.code, "ssh-host-key-unknown");
    assert.match(error.message, /@cert-authority .*does not check host certificates/);
    assert.equal(readFileSync(path, "utf8"), text, "nothing recorded");
  });
});
