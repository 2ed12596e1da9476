import { test } from "node:test";
import assert from "node:assert/strict";
import type { Resources } from "../../src/dsl.js";
import { classifyEnablement, planServiceAction } from "../../src/resources/systemd.js";
import { convergeWith } from "../helpers.js";
import { startMachine } from "../support/machine.js";

const machine = await startMachine();
const host = machine.host;
const backupDir = "/var/lib/sous/backup";
const converge = (declare: (resources: Resources) => void, dryRun = false) => convergeWith(declare, { host, backupDir, dryRun });

// Units are installed where packages put them. A daemon that logs its starts and reloads, so tests can tell a restart from a reload.
const DAEMON = `/bin/sh -c 'trap "echo reloaded >> /run/NAME.log" HUP; echo started >> /run/NAME.log; while :; do sleep 1 & wait $!; done'`;
function installUnit(name: string, install = "[Install]\nWantedBy=multi-user.target\n"): void {
  machine.run(["sh", "-c", `cat > /usr/lib/systemd/system/${name}.service && systemctl daemon-reload`], `[Unit]\nDescription=${name}\n[Service]\nExecStart=${DAEMON.replaceAll("NAME", name)}\nExecReload=/bin/kill -HUP $MAINPID\n${install}`);
}
const isEnabled = (unit: string) => machine.try(["systemctl", "is-enabled", unit]).stdout.trim();
const isActive = (unit: string) => machine.try(["systemctl", "is-active", unit]).stdout.trim();
const mainPid = (unit: string) => machine.run(["systemctl", "show", "-p", "MainPID", "--value", unit]).trim();
const log = (name: string) => machine.try(["cat", `/run/${name}.log`]).stdout;

test("enable and start, then converging again changes nothing; a dry run of stop and disable changes nothing", async () => {
  installUnit("sous-web");
  const up = ({ service }: Resources) => {
    service("sous-web", { action: ["enable", "start"] });
  };
  const first = await converge(up);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 2);
  assert.deepEqual(
    first.events.filter((e) => e.type === "resource:updated").map((e) => (e as { changes: unknown[] }).changes),
    [[{ property: "enabled", from: "disabled", to: "enabled" }], [{ property: "running", from: "inactive", to: "active" }]],
  );
  assert.equal(isEnabled("sous-web"), "enabled");
  assert.equal(isActive("sous-web"), "active");
  assert.equal((await converge(up)).updated.length, 0);

  const down = ({ service }: Resources) => {
    service("sous-web", { action: ["stop", "disable"] });
  };
  const before = machine.digest("/etc/systemd");
  const pid = mainPid("sous-web");
  const dry = await converge(down, true);
  assert.equal(dry.updated.length, 2);
  assert.equal(machine.digest("/etc/systemd"), before);
  assert.equal(mainPid("sous-web"), pid, "the dry run left the service running");

  assert.equal((await converge(down)).updated.length, 2);
  assert.equal(isEnabled("sous-web"), "disabled");
  assert.equal(isActive("sous-web"), "inactive");
  assert.equal((await converge(down)).updated.length, 0);
});

test("restart always acts when asked; reload acts on a running service only; neither runs unless called", async () => {
  installUnit("sous-app");
  machine.run(["systemctl", "start", "sous-app"]);
  const pid = mainPid("sous-app");
  const restart = ({ service }: Resources) => {
    service("sous-app", { action: "restart" });
  };
  assert.equal((await converge(restart)).updated.length, 1);
  const restarted = mainPid("sous-app");
  assert.notEqual(restarted, pid);
  assert.equal((await converge(restart)).updated.length, 1, "restart acts every time it is asked");
  assert.notEqual(mainPid("sous-app"), restarted);

  const reload = ({ service }: Resources) => {
    service("sous-app", { action: "reload" });
  };
  const samePid = mainPid("sous-app");
  assert.equal((await converge(reload)).updated.length, 1);
  assert.equal(mainPid("sous-app"), samePid, "a reload keeps the process");
  for (let i = 0; i < 50 && !log("sous-app").includes("reloaded"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(log("sous-app"), /reloaded/);
  machine.run(["systemctl", "stop", "sous-app"]);
  assert.equal((await converge(reload)).updated.length, 0, "a stopped service is not reloaded");

  // A configuration change notifies the restart; without a change, nothing restarts.
  machine.run(["systemctl", "start", "sous-app"]);
  const withConfig = (content: string) => ({ service, file }: Resources) => {
    const app = service("sous-app");
    file("/etc/sous-app.conf", { content, notifies: { restart: app } });
  };
  const running = mainPid("sous-app");
  const changed = await converge(withConfig("port = 1\n"));
  assert.deepEqual(changed.updated, ["file[/etc/sous-app.conf]", "service[sous-app]"]);
  assert.notEqual(mainPid("sous-app"), running);
  const settled = mainPid("sous-app");
  const unchanged = await converge(withConfig("port = 1\n"));
  assert.deepEqual(unchanged.updated, []);
  assert.equal(mainPid("sous-app"), settled);
});

test("static and indirect units are left as they are by enable and disable; a masked unit is masked and unmasked", async () => {
  installUnit("sous-static", "");
  installUnit("sous-indirect", "[Install]\nAlso=sous-static.service\n");
  assert.equal(isEnabled("sous-static"), "static");
  assert.equal(isEnabled("sous-indirect"), "indirect");
  for (const action of ["enable", "disable"] as const) {
    const result = await converge(({ service }) => {
      service("sous-static", { action });
      service("sous-indirect", { action });
    });
    assert.equal(result.result.status, "converged", JSON.stringify(result.events.at(-1)));
    assert.equal(result.updated.length, 0, `${action} changed a static or indirect unit`);
  }

  installUnit("sous-masked");
  const mask = ({ service }: Resources) => {
    service("sous-masked", { action: ["stop", "mask"] });
  };
  assert.equal((await converge(mask)).updated.length, 1);
  assert.equal(isEnabled("sous-masked"), "masked");
  assert.equal((await converge(mask)).updated.length, 0);
  const start = await converge(({ service }) => service("sous-masked", { action: "start" }));
  assert.equal(start.result.status, "failed");
  assert.match(JSON.stringify(start.events.find((e) => e.type === "resource:failed")), /masked/);
  const unmask = ({ service }: Resources) => {
    service("sous-masked", { action: "unmask" });
  };
  assert.equal((await converge(unmask)).updated.length, 1);
  assert.equal(isEnabled("sous-masked"), "disabled");
  assert.equal((await converge(unmask)).updated.length, 0);
});

test("a missing unit: stopping it is up to date, starting it fails naming the unit", async () => {
  const stop = await converge(({ service }) => service("sous-missing", { action: ["stop", "disable"] }));
  assert.equal(stop.result.status, "converged");
  assert.equal(stop.updated.length, 0);
  const start = await converge(({ service }) => service("sous-missing", { action: "start" }));
  assert.equal(start.result.status, "failed");
  assert.match(JSON.stringify(start.events.find((e) => e.type === "resource:failed")), /sous-missing\.service not found/);
});

test("the SysV provider runs the init script and manages rc.d links", async () => {
  const script = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          sous-sysv
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test daemon
### END INIT INFO
PIDFILE=/run/sous-sysv.pid
running() { [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; }
case "$1" in
  start) running || { setsid sh -c 'while :; do sleep 1; done' </dev/null >/dev/null 2>&1 & echo $! > $PIDFILE; } ;;
  stop) running && kill "$(cat $PIDFILE)"; rm -f $PIDFILE ;;
  restart|reload|force-reload) "$0" stop; "$0" start ;;
  status) running ;  exit $(( $? == 0 ? 0 : 3 )) ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`;
  machine.run(["sh", "-c", "cat > /etc/init.d/sous-sysv && chmod 0755 /etc/init.d/sous-sysv"], script);
  const up = ({ service }: Resources) => {
    service("sous-sysv", { provider: "sysvinit", action: ["enable", "start"] });
  };
  const first = await converge(up);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 2);
  assert.match(machine.run(["ls", "/etc/rc2.d"]), /S\d\dsous-sysv/);
  assert.equal(machine.try(["/etc/init.d/sous-sysv", "status"]).status, 0);
  assert.equal((await converge(up)).updated.length, 0);

  const down = ({ service }: Resources) => {
    service("sous-sysv", { provider: "sysvinit", action: ["stop", "disable"] });
  };
  const dry = await converge(down, true);
  assert.equal(dry.updated.length, 2);
  assert.equal(machine.try(["/etc/init.d/sous-sysv", "status"]).status, 0, "the dry run left it running");
  assert.equal((await converge(down)).updated.length, 2);
  assert.doesNotMatch(machine.run(["ls", "/etc/rc2.d"]), /S\d\dsous-sysv/);
  assert.equal(machine.try(["/etc/init.d/sous-sysv", "status"]).status, 3);
  assert.equal((await converge(down)).updated.length, 0);

  // Where systemd does not run, the SysV provider is the one chosen.
  const box = await machine.withoutSystemd();
  const start = ({ service }: Resources) => {
    service("sous-sysv", { action: "start" });
  };
  const started = await convergeWith(start, { host: box.host, backupDir });
  assert.equal(started.result.status, "converged", JSON.stringify(started.events.at(-1)));
  assert.equal(started.updated.length, 1);
  assert.equal((await box.host.exec(["/etc/init.d/sous-sysv", "status"])).exitCode, 0);
  assert.deepEqual((await convergeWith(start, { host: box.host, backupDir })).updated, []);

  // An init script without a usable status: statusCommand tells whether it runs.
  const legacy = `#!/bin/sh
case "$1" in
  start) setsid sh -c 'while :; do sleep 1; done' </dev/null >/dev/null 2>&1 & echo $! > /run/sous-legacy.pid ;;
  stop) kill "$(cat /run/sous-legacy.pid)"; rm -f /run/sous-legacy.pid ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
`;
  machine.run(["sh", "-c", "cat > /etc/init.d/sous-legacy && chmod 0755 /etc/init.d/sous-legacy"], legacy);
  const startLegacy = ({ service }: Resources) => {
    service("sous-legacy", { action: "start", statusCommand: 'kill -0 "$(cat /run/sous-legacy.pid 2>/dev/null)" 2>/dev/null' });
  };
  assert.equal((await convergeWith(startLegacy, { host: box.host, backupDir })).updated.length, 1);
  assert.deepEqual((await convergeWith(startLegacy, { host: box.host, backupDir })).updated, [], "statusCommand saw it running");
});

test("under systemd, a service that only has an init script is enabled and started through systemd", async () => {
  // The script from the SysV test: systemd wraps it in a generated unit, and enables it through update-rc.d.
  const up = ({ service }: Resources) => {
    service("sous-sysv", { action: ["enable", "start"] });
  };
  const first = await converge(up);
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 2);
  assert.equal(isActive("sous-sysv"), "active");
  assert.deepEqual((await converge(up)).updated, []);
  const down = ({ service }: Resources) => {
    service("sous-sysv", { action: ["stop", "disable"] });
  };
  assert.equal((await converge(down)).updated.length, 2);
  assert.deepEqual((await converge(down)).updated, []);
});

test("enablement words classify as systemd documents them, and plans follow", () => {
  assert.deepEqual(
    ["enabled", "enabled-runtime", "alias", "linked", "disabled", "static", "indirect", "generated", "transient", "masked", "masked-runtime", "bad"].map(classifyEnablement),
    ["enabled", "enabled", "enabled", "disabled", "disabled", "fixed", "fixed", "fixed", "fixed", "masked", "masked", "missing"],
  );
  const running = { enablement: "enabled" as const, enabledWord: "enabled", running: true, activeWord: "active", canReload: false };
  assert.deepEqual(planServiceAction(running, "reload").changes, [{ property: "running", from: "active", to: "restarted" }]);
  assert.deepEqual(planServiceAction(running, "start").changes, []);
  assert.deepEqual(planServiceAction({ ...running, running: false, activeWord: "failed" }, "restart").changes, [{ property: "running", from: "failed", to: "active" }]);
});
