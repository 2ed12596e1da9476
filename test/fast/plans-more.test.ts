/**
 * The fast tier, continued: the types plans.test.ts does not cover (template, remote_file,
 * code, systemd_unit, mount, archive, apt_update, apt_repository, package with dnf, git)
 * against a fixture host. Current state in, planned changes and commands out, and for each
 * the already-converged case: a second run plans nothing and runs nothing that writes.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import type { Resources } from "../../src/dsl.js";
import { scratch } from "../helpers.js";
import { converge, writes } from "../support/fast-converge.js";
import { FixtureHost, type ScriptedCommand } from "../support/fixture-host.js";

describe("template, remote_file, code", () => {
  it("template: renders its variables (and the node) into the file; the same text again plans nothing", async () => {
    const host = new FixtureHost({ "/etc/app/app.conf": "port = 8080\n" });
    const declare = ({ template }: Resources) => void template<{ port: number }>("/etc/app/app.conf", { inline: "port = <%= port %>\nnode = <%= node.name %>\n", variables: { port: 80 }, mode: "0640" });
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes["template[/etc/app/app.conf]"]!.map(([property]) => property), ["content", "mode"]);
    assert.equal(host.text("/etc/app/app.conf"), "port = 8080\n", "the dry run wrote nothing");
    const run = await converge(host, declare);
    assert.equal(host.text("/etc/app/app.conf"), "port = 80\nnode = test\n");
    assert.equal(host.node("/etc/app/app.conf")!.mode, 0o640);
    assert.deepEqual(run.commands, []);
    assert.deepEqual((await converge(host, declare)).changes, {});
  });

  it("remote_file: fetched once and written; with its checksum matching, a second run plans nothing", async () => {
    const source = join(scratch(), "tool.sh");
    writeFileSync(source, "#!/bin/sh\necho tool\n");
    const checksum = "sha256:" + (await import("node:crypto")).createHash("sha256").update("#!/bin/sh\necho tool\n").digest("hex");
    const host = new FixtureHost();
    await host.mkdir("/usr/local/bin", { recursive: true });
    const declare = ({ remoteFile }: Resources) => void remoteFile("/usr/local/bin/tool", { source: pathToFileURL(source).href, checksum, mode: "0755" });
    const run = await converge(host, declare);
    assert.deepEqual(run.changes["remote_file[/usr/local/bin/tool]"]!.map(([property, from]) => [property, from]), [["content", undefined], ["mode", undefined]]);
    assert.equal(host.text("/usr/local/bin/tool"), "#!/bin/sh\necho tool\n");
    assert.equal(host.node("/usr/local/bin/tool")!.mode, 0o755);
    assert.deepEqual((await converge(host, declare)).changes, {});
  });

  it("code: its block runs each converge unless its guard says it is done", async () => {
    const host = new FixtureHost();
    let runs = 0;
    const declare = ({ code }: Resources) =>
      void code("seed", {
        block: async ({ host: target }) => {
          runs++;
          await target.writeFileAtomic("/seeded", "yes\n");
        },
        notIf: async () => (await host.tryLstat("/seeded")) !== undefined,
      });
    const dry = await converge(host, declare, true);
    assert.deepEqual([dry.changes, runs], [{ "code[seed]": [["block", undefined, "run"]] }, 0]);
    const run = await converge(host, declare);
    assert.deepEqual([run.changes, runs, host.text("/seeded")], [{ "code[seed]": [["block", undefined, "run"]] }, 1, "yes\n"]);
    assert.deepEqual([(await converge(host, declare)).changes, runs], [{}, 1]);
  });
});

describe("systemd_unit and mount", () => {
  it("systemd_unit: the unit file is written from sections and systemd reloads; the same file plans nothing", async () => {
    const host = new FixtureHost({}, [{ argv: ["systemctl", "daemon-reload"] }]);
    await host.mkdir("/etc/systemd/system", { recursive: true });
    const declare = ({ systemdUnit }: Resources) => void systemdUnit("app.service", { content: { Unit: { Description: "App" }, Service: { ExecStart: "/usr/bin/app", Environment: ["A=1", "B=2"] } } });
    const dry = await converge(host, declare, true);
    assert.deepEqual([Object.keys(dry.changes), dry.commands], [["systemd_unit[app.service]"], []]);
    const run = await converge(host, declare);
    assert.equal(host.text("/etc/systemd/system/app.service"), "[Unit]\nDescription=App\n\n[Service]\nExecStart=/usr/bin/app\nEnvironment=A=1\nEnvironment=B=2\n");
    assert.deepEqual(run.commands, [["systemctl", "daemon-reload"]]);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, again.commands], [{}, []]);
  });

  it("mount: enable writes the fstab line and mount mounts it; once both hold, nothing", async () => {
    let mounted = "proc /proc proc rw 0 0\n";
    const host = new FixtureHost({ "/etc/fstab": "# static file system information\nproc /proc proc defaults 0 0\n" }, [
      { argv: ["cat", "/proc/self/mounts"], stdout: mounted },
      { argv: ["mount"], effect: (h) => ((mounted += "tmpfs /srv/cache tmpfs rw,size=64m 0 0\n"), h.answer({ argv: ["cat", "/proc/self/mounts"], stdout: mounted })) },
    ]);
    const declare = ({ mount }: Resources) => void mount("/srv/cache", { device: "tmpfs", fstype: "tmpfs", options: ["size=64m"], action: ["enable", "mount"] });
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes, { "mount[/srv/cache]": [["fstab", undefined, "tmpfs (tmpfs) size=64m"], ["mounted", undefined, "tmpfs (tmpfs)"]] });
    const run = await converge(host, declare);
    assert.equal(host.text("/etc/fstab"), "# static file system information\nproc /proc proc defaults 0 0\ntmpfs\t/srv/cache\ttmpfs\tsize=64m\t0\t0\n");
    assert.deepEqual(writes(run.commands, ["cat"]), [["mount", "-t", "tmpfs", "-o", "size=64m", "--", "tmpfs", "/srv/cache"]]);
    assert.equal(host.node("/srv/cache")?.type, "directory", "the mount point was made");
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, writes(again.commands, ["cat"])], [{}, []]);
  });
});

describe("archive", () => {
  it("extracts once with tar into a new destination and records it; the same archive again plans nothing", async () => {
    const sum = "3f".repeat(32);
    const host = new FixtureHost({ "/tmp/app.tar.gz": "tarball" }, [
      { argv: ["sha256sum", "--", "/tmp/app.tar.gz"], stdout: `${sum}  /tmp/app.tar.gz\n` },
      { argv: ["tar", "-t"], stdout: "app-1.0/\napp-1.0/bin/app\napp-1.0/README\n" },
      { argv: ["tar", "-x"], effect: (h) => void h.mkdir("/srv/app/bin", { recursive: true }).then(() => h.writeFileAtomic("/srv/app/README", "")) },
    ]);
    const declare = ({ archive }: Resources) => void archive("/tmp/app.tar.gz", { destination: "/srv/app", stripComponents: 1 });
    const run = await converge(host, declare);
    assert.deepEqual(run.changes, { "archive[/tmp/app.tar.gz]": [["extracted", undefined, `sha256:${sum.slice(0, 16)} in /srv/app`]] });
    assert.deepEqual(writes(run.commands, ["sha256sum", "tar -t"]), [["tar", "-x", "-f", "/tmp/app.tar.gz", "-C", "/srv/app", "--no-same-owner", "--no-overwrite-dir", "--strip-components=1"]]);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, writes(again.commands, ["sha256sum", "tar -t"])], [{}, []]);
  });
});

describe("apt_update and apt_repository", () => {
  it("apt_update: without a success stamp the lists are refreshed and stamped; a fresh stamp plans nothing", async () => {
    const host = new FixtureHost({}, [{ argv: ["date", "+%s"], stdout: `${Math.floor(Date.now() / 1000) + 1}\n` }, { argv: ["apt-get"] }]);
    const declare = ({ aptUpdate }: Resources) => void aptUpdate();
    const dry = await converge(host, declare, true);
    assert.deepEqual([dry.changes, writes(dry.commands, ["date"])], [{ "apt_update[default]": [["lastUpdate", undefined, "now"]] }, []]);
    const run = await converge(host, declare);
    assert.deepEqual(writes(run.commands, ["date"]).map((argv) => argv.at(-1)), ["update"]);
    assert.notEqual(host.node("/var/lib/apt/periodic/update-success-stamp"), undefined);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, writes(again.commands, ["date"])], [{}, []]);
  });

  it("apt_repository: a deb822 source signed by its key, and only that source refreshed; the same source plans nothing", async () => {
    const key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n";
    const host = new FixtureHost({}, [{ argv: ["apt-get"] }]);
    const declare = ({ aptRepository }: Resources) => void aptRepository("nodesource", { uri: "https://deb.nodesource.com/node_20.x", suites: ["nodistro"], components: ["main"], key });
    const run = await converge(host, declare);
    assert.deepEqual(run.changes["apt_repository[nodesource]"]!.map(([property]) => property), ["sources", "key"]);
    const sources = host.text("/etc/apt/sources.list.d/nodesource.sources") ?? "";
    assert.match(sources, /^URIs: https:\/\/deb\.nodesource\.com\/node_20\.x$/m);
    assert.match(sources, /^Signed-By: \/etc\/apt\/keyrings\/nodesource\.asc$/m);
    assert.equal(host.text("/etc/apt/keyrings/nodesource.asc"), key);
    assert.equal(run.commands.length, 1);
    assert.ok(run.commands[0]!.includes("Dir::Etc::SourceList=/etc/apt/sources.list.d/nodesource.sources"), "only this source is refreshed");
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, again.commands], [{}, []]);
  });
});

describe("package (dnf)", () => {
  const row = (name: string, versionRelease: string) => `${name}\t(none)\t${versionRelease}\tx86_64\n`;
  const absent = (name: string): ScriptedCommand => ({ argv: ["rpm", "-q"], stdout: `package ${name} is not installed\n`, exitCode: 1 });

  it("absent: installs the newest build the repositories offer in one dnf call; installed: nothing", async () => {
    const host = new FixtureHost({}, [
      absent("htop"),
      { argv: ["dnf", "-q", "repoquery"], stdout: row("htop", "3.3.0-1.fc40") },
      { argv: ["dnf", "install"], effect: (h) => h.answer({ argv: ["rpm", "-q"], stdout: row("htop", "3.3.0-1.fc40") }) },
      { argv: ["dnf"], effect: (h) => h.answer({ argv: ["rpm", "-q"], stdout: row("htop", "3.3.0-1.fc40") }) },
    ]);
    const declare = ({ package: pkg }: Resources) => void pkg("htop", { provider: "dnf" });
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes, { "package[htop]": [["htop", undefined, "3.3.0-1.fc40"]] });
    assert.deepEqual(writes(dry.commands, ["rpm -q", "dnf -q repoquery"]), [], "a dry run only reads");
    const run = await converge(host, declare);
    const installs = writes(run.commands, ["rpm -q", "dnf -q repoquery"]);
    assert.equal(installs.length, 1);
    assert.ok(installs[0]!.includes("install") && installs[0]!.at(-1)!.startsWith("htop"), JSON.stringify(installs));
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, writes(again.commands, ["rpm -q", "dnf -q repoquery"])], [{}, []]);
  });
});

describe("git", () => {
  const sha = "0123456789abcdef0123456789abcdef01234567";
  const url = "https://git.example.org/app.git";
  const inCheckout = ["git", "-c", "safe.directory=/srv/app", "-C", "/srv/app"];

  it("no checkout: clones and checks out the branch's commit; at that commit with the same remote, nothing", async () => {
    const host = new FixtureHost({}, [
      { argv: ["git", "ls-remote"], stdout: `${sha}\trefs/heads/main\n` },
      { argv: ["git", "clone"], effect: (h) => void h.mkdir("/srv/app/.git", { recursive: true }) },
      { argv: [...inCheckout, "rev-parse"], stdout: `${sha}\n` },
      { argv: [...inCheckout, "config"], stdout: `${url}\n` },
      { argv: inCheckout },
    ]);
    await host.mkdir("/srv", { recursive: true });
    const declare = ({ git }: Resources) => void git("/srv/app", { repository: url, revision: "main" });
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes, { "git[/srv/app]": [["repository", undefined, url], ["revision", undefined, sha.slice(0, 12)]] });
    assert.deepEqual(writes(dry.commands, ["git ls-remote"]), [], "a dry run only asks the remote");
    const run = await converge(host, declare);
    const written = writes(run.commands, ["git ls-remote", [...inCheckout, "rev-parse"].join(" ")]);
    assert.deepEqual(written, [
      ["git", "clone", "--origin", "origin", "--no-checkout", "--", url, "/srv/app"],
      [...inCheckout, "checkout", "--force", "-B", "main", sha],
      [...inCheckout, "branch", "--set-upstream-to", "origin/main"],
    ]);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, writes(again.commands, ["git ls-remote", [...inCheckout, "rev-parse"].join(" "), [...inCheckout, "config"].join(" ")])], [{}, []]);
  });
});
