/**
 * A host whose locale is not English: SshHost recognises a missing file, an existing directory
 * and a missing directory as Node's fs would (ENOENT, EEXIST), because every remote command
 * runs in the C locale. This machine's own commands (LocalHost) too.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it, test } from "node:test";
import { run } from "../../src/host/host.js";
import { LocalHost } from "../../src/host/local.js";
import { parseTarget, SshHost } from "../../src/host/ssh.js";
import { type Fleet, fleetUnavailable, useFleet } from "../fleet/index.js";
import { scratch } from "../helpers.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(1);
let fleet: Fleet;
let german: SshHost;

before(async () => {
  if (skip) return;
  fleet = await startedFleet();
  const options = { identityFile: fleet.keyFile, knownHostsFile: fleet.knownHostsFile };
  const setup = await SshHost.connect(parseTarget(fleet.hosts[0]!.target), options);
  try {
    // Inside this host's overlay only: a German locale, and root's shell (bash reads .bashrc for SSH commands) using it.
    await run(setup, { shell: "localedef -i de_DE -f UTF-8 de_DE.UTF-8 && sed -i '1i export LANG=de_DE.UTF-8 LANGUAGE=de' /root/.bashrc" });
  } finally {
    setup.close();
  }
  german = await SshHost.connect(parseTarget(fleet.hosts[0]!.target), options);
});
after(() => german?.close());

describe("SshHost on a host with a German locale", { skip }, () => {
  it("the host really speaks German to commands that do not set the locale themselves", async () => {
    const result = await german.exec({ shell: "printenv LANG; env -u LC_ALL cat /nonexistent/sous" });
    assert.match(result.stdout, /^de_DE\.UTF-8$/m);
    assert.match(result.stderr, /Datei oder Verzeichnis nicht gefunden/);
  });

  it("reads a missing file as missing, and maps failed file operations to the errno Node would give", async () => {
    assert.equal(await german.tryReadFile("/nonexistent/sous/file"), undefined);
    assert.equal(await german.tryLstat("/nonexistent/sous/file"), undefined);
    await assert.rejects(german.mkdir("/etc"), (error: NodeJS.ErrnoException) => error.code === "EEXIST");
    await assert.rejects(german.readdir("/nonexistent/sous"), (error: NodeJS.ErrnoException) => error.code === "ENOENT");
    await assert.rejects(german.readlink("/etc/hostname"), (error: NodeJS.ErrnoException) => error.code === "EINVAL");
  });

  it("runs commands in the C locale unless the caller asks for another", async () => {
    const plain = await german.exec(["cat", "/nonexistent/sous"]);
    assert.match(plain.stderr, /No such file or directory/);
    const asked = await german.exec(["cat", "/nonexistent/sous"], { env: { LC_ALL: "de_DE.UTF-8" } });
    assert.match(asked.stderr, /nicht gefunden/);
    const timed = await SshHost.connect(parseTarget(fleet.hosts[0]!.target), { identityFile: fleet.keyFile, knownHostsFile: fleet.knownHostsFile, commandTimeoutMs: 30_000 });
    try {
      // A channel per operation (a command timeout) goes through the same locale.
      assert.equal(await timed.tryReadFile("/nonexistent/sous/file"), undefined);
    } finally {
      timed.close();
    }
  });
});

test("LocalHost runs commands in the C locale when this process has another", async () => {
  // A German locale compiled into a scratch folder (LOCPATH): nothing of this machine changes.
  const locales = scratch("sous-locale-");
  execFileSync("localedef", ["-i", "de_DE", "-f", "UTF-8", join(locales, "de_DE.UTF-8")]);
  const saved = { LANG: process.env.LANG, LOCPATH: process.env.LOCPATH };
  process.env.LANG = "de_DE.UTF-8";
  process.env.LOCPATH = locales;
  try {
    const host = new LocalHost();
    assert.match((await host.exec(["env", "-u", "LC_ALL", "cat", "/nonexistent/sous"])).stderr, /nicht gefunden/, "the locale works here");
    assert.match((await host.exec(["cat", "/nonexistent/sous"])).stderr, /No such file or directory/);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});
