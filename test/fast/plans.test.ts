/**
 * The fast tier: each resource type's read → plan → apply against a fixture host (files and
 * accounts in memory, commands answered from a script). Current state in, planned changes and
 * commands out, the already-converged case included; no root, no processes, a few
 * milliseconds a case. The real-system tests beside them stay the proof that the commands work.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Resources } from "../../src/dsl.js";
import { BACKUPS, converge, writes } from "../support/fast-converge.js";
import { FixtureHost, type ScriptedCommand } from "../support/fixture-host.js";

describe("file, directory, link (files only, no commands)", () => {
  it("creates with content, mode and owner; a second run plans nothing", async () => {
    const host = new FixtureHost({ "/etc/passwd": "root:x:0:0::/root:/bin/sh\nweb:x:1001:1001::/home/web:/bin/sh\n", "/etc/group": "root:x:0:\nweb:x:1001:\n" });
    await host.mkdir("/srv");
    const declare = ({ directory, file, link }: Resources) => {
      directory("/srv/app", { owner: "web", mode: "0750" });
      file("/srv/app/app.conf", { content: "port = 80\n", owner: "web", group: "web", mode: "0640" });
      link("/srv/current", { to: "/srv/app" });
    };
    const dry = await converge(host, declare, true);
    assert.deepEqual(Object.keys(dry.changes), ["directory[/srv/app]", "file[/srv/app/app.conf]", "link[/srv/current]"]);
    assert.equal(host.node("/srv/app"), undefined, "the dry run wrote nothing");
    const first = await converge(host, declare);
    assert.deepEqual(first.commands, []);
    assert.equal(host.text("/srv/app/app.conf"), "port = 80\n");
    assert.deepEqual([host.node("/srv/app/app.conf")!.mode, host.node("/srv/app/app.conf")!.uid], [0o640, 1001]);
    assert.equal(host.node("/srv/app")!.mode, 0o750);
    assert.deepEqual((await converge(host, declare)).changes, {});
  });

  it("a changed file gets a diff and a backup of what it replaced", async () => {
    const host = new FixtureHost({ "/etc/motd": "old\n" });
    const run = await converge(host, ({ file }) => void file("/etc/motd", { content: "new\n" }));
    assert.deepEqual(run.changes, { "file[/etc/motd]": [["content", "sha256:01d09d19c2139a46 (4 bytes)", "sha256:7aa7a5359173d05b (4 bytes)"]] });
    const updated = run.events.find((e) => e.type === "resource:updated") as { diff?: string };
    assert.match(updated.diff ?? "", /^-old$/m);
    assert.match(updated.diff ?? "", /^\+new$/m);
    const backups = await host.readdir(`${BACKUPS}/etc`);
    assert.equal(backups.length, 1);
    assert.equal(host.text(`${BACKUPS}/etc/${backups[0]}`), "old\n");
  });
});

describe("package (apt)", () => {
  const dpkgQuery = ["dpkg-query", "-W"];
  const policy = (name: string, candidate: string) => `${name}:\n  Installed: (none)\n  Candidate: ${candidate}\n  Version table:\n     ${candidate} 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n`;
  const installed = (name: string, version: string): ScriptedCommand => ({ argv: dpkgQuery, stdout: `${name}\t${name}\tinstall ok installed\t${version}\n` });

  it("absent: plans the candidate, installs exactly that version in one apt-get call; installed: nothing", async () => {
    const host = new FixtureHost({}, [
      { argv: dpkgQuery, stdout: "", exitCode: 1 },
      { argv: ["apt-cache"], stdout: policy("nginx", "1.22.1-9") },
      { argv: ["apt-get"], effect: (h) => h.answer(installed("nginx", "1.22.1-9")) },
    ]);
    const declare = ({ package: pkg }: Resources) => void pkg("nginx");
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes, { "package[nginx]": [["nginx", undefined, "1.22.1-9"]] });
    assert.equal(dry.commands.filter((argv) => argv[0] === "apt-get").length, 0, "a dry run runs no apt-get");
    const real = await converge(host, declare);
    const aptGet = real.commands.filter((argv) => argv[0] === "apt-get");
    assert.equal(aptGet.length, 1);
    assert.ok(aptGet[0]!.includes("install"));
    assert.deepEqual(aptGet[0]!.slice(-2), ["--", "nginx=1.22.1-9"]);
    const again = await converge(host, declare);
    assert.deepEqual(again.changes, {});
    assert.deepEqual(writes(again.commands, ["dpkg-query", "apt-cache"]), []);
  });

  it("remove plans only installed packages", async () => {
    const host = new FixtureHost({}, [installed("telnet", "0.17-44"), { argv: ["apt-get"] }]);
    const run = await converge(host, ({ package: pkg }) => void pkg("telnet", { action: "remove" }));
    assert.deepEqual(run.changes, { "package[telnet]": [["telnet", "0.17-44", "(removed)"]] });
    assert.ok(run.commands.some((argv) => argv[0] === "apt-get" && argv.includes("remove") && argv.at(-1) === "telnet"));
  });
});

describe("service (systemd)", () => {
  const show = (active: string, enabled: string): ScriptedCommand[] => [
    { argv: ["systemctl", "show"], stdout: `LoadState=loaded\nActiveState=${active}\nSubState=dead\nUnitFileState=${enabled}\nCanReload=yes\n` },
    { argv: ["systemctl", "is-enabled"], stdout: `${enabled}\n`, exitCode: enabled === "enabled" ? 0 : 1 },
  ];

  it("disabled and stopped: enable and start run systemctl; enabled and active: nothing", async () => {
    const host = new FixtureHost({}, [...show("inactive", "disabled"), { argv: ["systemctl", "enable"] }, { argv: ["systemctl", "start"], effect: (h) => h.answer(...show("active", "enabled")) }]);
    await host.mkdir("/run/systemd/system", { recursive: true });
    const declare = ({ service }: Resources) => void service("nginx", { action: ["enable", "start"] });
    const run = await converge(host, declare);
    assert.deepEqual(run.changes, { "service[nginx]": [["enabled", "disabled", "enabled"], ["running", "inactive", "active"]] });
    assert.deepEqual(writes(run.commands, ["systemctl show", "systemctl is-enabled"]), [["systemctl", "enable", "--", "nginx"], ["systemctl", "start", "--", "nginx"]]);
    const again = await converge(host, declare);
    assert.deepEqual(again.changes, {});
    assert.deepEqual(writes(again.commands, ["systemctl show", "systemctl is-enabled"]), []);
  });
});

describe("user and group", () => {
  it("a missing group and user are added with their ids; present ones plan nothing", async () => {
    const passwd = "root:x:0:0:root:/root:/bin/bash\n";
    const host = new FixtureHost({ "/etc/passwd": passwd, "/etc/group": "root:x:0:\n", "/etc/shadow": "root:*:19000:0:99999:7:::\n" }, [
      { argv: ["groupadd"], effect: (h) => void h.writeFileAtomic("/etc/group", "root:x:0:\ndeploy:x:2000:\n") },
      { argv: ["useradd"], effect: (h) => void h.writeFileAtomic("/etc/passwd", `${passwd}deploy:x:2000:2000::/home/deploy:/bin/sh\n`) },
    ]);
    const declare = ({ group, user }: Resources) => {
      group("deploy", { gid: 2000 });
      user("deploy", { uid: 2000, gid: "deploy", shell: "/bin/sh", home: "/home/deploy", manageHome: false });
    };
    const run = await converge(host, declare);
    assert.deepEqual(Object.keys(run.changes), ["group[deploy]", "user[deploy]"]);
    const adds = run.commands.filter((argv) => argv[0] === "groupadd" || argv[0] === "useradd");
    assert.deepEqual(adds.map((argv) => [argv[0], argv.at(-1)]), [["groupadd", "deploy"], ["useradd", "deploy"]]);
    assert.ok(adds[0]!.join(" ").includes("--gid 2000"));
    assert.ok(adds[1]!.join(" ").includes("2000"));
    const again = await converge(host, declare);
    assert.deepEqual(again.changes, {});
    assert.deepEqual(again.commands.filter((argv) => /^(user|group)(add|mod)$/.test(argv[0]!)), []);
  });
});

describe("cron, sysctl, execute", () => {
  it("cron: a new entry is written through crontab -u USER -; the same entry again plans nothing", async () => {
    const host = new FixtureHost({}, [
      { argv: ["crontab", "-l"], exitCode: 1, stderr: "no crontab for root\n" },
      { argv: ["crontab", "-u", "root", "-"], effect: (h, table) => h.answer({ argv: ["crontab", "-l"], stdout: table ?? "" }) },
    ]);
    const declare = ({ cron }: Resources) => void cron("backup", { minute: "5", hour: "2", command: "/usr/local/bin/backup" });
    const dry = await converge(host, declare, true);
    assert.deepEqual(Object.keys(dry.changes), ["cron[backup]"]);
    assert.deepEqual(dry.commands, [["crontab", "-l", "-u", "root"]], "a dry run only reads");
    const run = await converge(host, declare);
    assert.deepEqual(run.commands, [["crontab", "-l", "-u", "root"], ["crontab", "-u", "root", "-"]]);
    assert.match(run.inputs[1] ?? "", /^5 2 \* \* \* \/usr\/local\/bin\/backup$/m);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, again.commands], [{}, [["crontab", "-l", "-u", "root"]]]);
  });

  it("sysctl: a different kernel value is written to /proc/sys and persisted; the same value plans nothing", async () => {
    const host = new FixtureHost({ "/etc/sysctl.d/README": "" }, [{ argv: ["cat", "--", "/proc/sys/net/ipv4/ip_forward"], stdout: "0\n" }, { argv: ["sh", "-c"], effect: (h) => h.answer({ argv: ["cat", "--", "/proc/sys/net/ipv4/ip_forward"], stdout: "1\n" }) }, { argv: ["sysctl"] }]);
    const declare = ({ sysctl }: Resources) => void sysctl("net.ipv4.ip_forward", { value: "1" });
    const run = await converge(host, declare);
    assert.deepEqual(Object.keys(run.changes), ["sysctl[net.ipv4.ip_forward]"]);
    assert.ok(run.commands.some((argv) => argv[0] === "sh" && argv.includes("/proc/sys/net/ipv4/ip_forward")));
    const again = await converge(host, declare);
    assert.deepEqual(again.changes, {});
  });

  it("execute: creates guards the command; once the file exists, nothing runs", async () => {
    const host = new FixtureHost({ "/var/lib/dpkg/status": "" }, [{ argv: ["/usr/local/bin/setup"], effect: (h) => void h.writeFileAtomic("/var/lib/setup.done", "") }]);
    const declare = ({ execute }: Resources) => void execute("setup", { command: ["/usr/local/bin/setup"], creates: "/var/lib/setup.done" });
    const run = await converge(host, declare);
    assert.deepEqual(run.commands, [["/usr/local/bin/setup"]]);
    const again = await converge(host, declare);
    assert.deepEqual([again.changes, again.commands], [{}, []]);
  });
});

describe("line and hostname (files, and one command for the live name)", () => {
  it("line: a matching line is replaced in place, a missing one appended; in place, nothing", async () => {
    const host = new FixtureHost({ "/etc/ssh/sshd_config": "Port 22\n#PermitRootLogin yes\nUsePAM yes\n" });
    const declare = ({ line }: Resources) => {
      line("permit-root", { path: "/etc/ssh/sshd_config", regexp: "^#?PermitRootLogin ", line: "PermitRootLogin no" });
      line("max-auth", { path: "/etc/ssh/sshd_config", line: "MaxAuthTries 3" });
    };
    const run = await converge(host, declare);
    assert.deepEqual(Object.keys(run.changes), ["line[permit-root]", "line[max-auth]"]);
    assert.equal(host.text("/etc/ssh/sshd_config"), "Port 22\nPermitRootLogin no\nUsePAM yes\nMaxAuthTries 3\n");
    assert.deepEqual(run.commands, []);
    assert.deepEqual((await converge(host, declare)).changes, {});
  });

  it("hostname: a different live name and /etc/hostname are set (hostnamectl under systemd); the same name plans nothing", async () => {
    const host = new FixtureHost({ "/etc/hostname": "debian\n", "/etc/hosts": "127.0.0.1 localhost\n" }, [
      { argv: ["uname", "-n"], stdout: "debian\n" },
      { argv: ["hostnamectl"], effect: (h) => h.answer({ argv: ["uname", "-n"], stdout: "web1\n" }) },
    ]);
    await host.mkdir("/run/systemd/system", { recursive: true });
    const declare = ({ hostname }: Resources) => void hostname("web1", { manageHosts: false });
    const dry = await converge(host, declare, true);
    assert.deepEqual(dry.changes, { "hostname[web1]": [["hostname", "debian", "web1"], ["/etc/hostname", "debian", "web1"]] });
    assert.equal(host.text("/etc/hostname"), "debian\n");
    const run = await converge(host, declare);
    assert.deepEqual(writes(run.commands, ["uname"]), [["hostnamectl", "set-hostname", "--", "web1"]]);
    assert.equal(host.text("/etc/hostname"), "web1\n");
    assert.deepEqual((await converge(host, declare)).changes, {});
  });
});
