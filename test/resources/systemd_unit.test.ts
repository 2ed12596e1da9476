import { test } from "node:test";
import assert from "node:assert/strict";
import type { Resources } from "../../src/dsl.js";
import { renderUnit, type UnitSections } from "../../src/resources/systemd_unit.js";
import { convergeWith } from "../helpers.js";
import { startMachine } from "../support/machine.js";

const machine = await startMachine();
const host = machine.host;
const backupDir = "/var/lib/sous/backup";
const converge = (declare: (resources: Resources) => void, dryRun = false) => convergeWith(declare, { host, backupDir, dryRun });
const show = (unit: string, property: string) => machine.run(["systemctl", "show", "-p", property, "--value", unit]).trim();

function worker(description: string): UnitSections {
  return {
    Unit: { Description: description },
    Service: { ExecStart: "/bin/sh -c 'while :; do sleep 1; done'", Environment: ["A=1", "B=2"], NoNewPrivileges: true },
    Install: { WantedBy: "multi-user.target" },
  };
}

test("sections render as a unit file, repeated keys as repeated lines", () => {
  assert.equal(
    renderUnit(worker("w")),
    "[Unit]\nDescription=w\n\n[Service]\nExecStart=/bin/sh -c 'while :; do sleep 1; done'\nEnvironment=A=1\nEnvironment=B=2\nNoNewPrivileges=yes\n\n[Install]\nWantedBy=multi-user.target\n",
  );
  assert.equal(renderUnit("[Unit]\nDescription=x"), "[Unit]\nDescription=x\n");
});

test("create, enable and start a unit; a second run changes nothing; a changed unit is reloaded into systemd", async () => {
  const declare = (description: string) => ({ systemdUnit }: Resources) => {
    systemdUnit("sous-worker.service", { content: worker(description), action: ["create", "enable", "start"] });
  };
  const first = await converge(declare("first"));
  assert.equal(first.result.status, "converged", JSON.stringify(first.events.at(-1)));
  assert.equal(first.updated.length, 3);
  assert.equal(machine.run(["cat", "/etc/systemd/system/sous-worker.service"]), renderUnit(worker("first")));
  assert.equal(machine.run(["systemctl", "is-enabled", "sous-worker.service"]).trim(), "enabled");
  assert.equal(show("sous-worker.service", "ActiveState"), "active");
  assert.equal(show("sous-worker.service", "Description"), "first");
  assert.deepEqual((await converge(declare("first"))).updated, []);

  const before = machine.digest("/etc/systemd");
  const dry = await converge(declare("second"), true);
  assert.equal(dry.updated.length, 1);
  assert.match(String((dry.events.find((e) => e.type === "resource:updated") as { diff?: string }).diff), /-Description=first\n\+Description=second/);
  assert.equal(machine.digest("/etc/systemd"), before, "the dry run changed nothing");
  assert.equal(show("sous-worker.service", "Description"), "first");

  const changed = await converge(declare("second"));
  assert.equal(changed.updated.length, 1);
  assert.equal(show("sous-worker.service", "Description"), "second", "systemd read the new unit");
  assert.equal(show("sous-worker.service", "NeedDaemonReload"), "no");
  assert.deepEqual((await converge(declare("second"))).updated, []);
});

test("stop, disable and delete a unit; then it is gone from systemd too", async () => {
  await converge(({ systemdUnit }) => systemdUnit("sous-gone.service", { content: worker("gone"), action: ["create", "enable", "start"] }));
  assert.equal(show("sous-gone.service", "ActiveState"), "active");
  const remove = ({ systemdUnit }: Resources) => {
    systemdUnit("sous-gone.service", { action: ["stop", "disable", "delete"] });
  };
  const removed = await converge(remove);
  assert.equal(removed.result.status, "converged", JSON.stringify(removed.events.at(-1)));
  assert.equal(removed.updated.length, 3);
  assert.equal(machine.try(["test", "-e", "/etc/systemd/system/sous-gone.service"]).status, 1);
  assert.equal(show("sous-gone.service", "LoadState"), "not-found");
  assert.deepEqual((await converge(remove)).updated, []);
});

test("a dry run of a new unit with enable and start plans all three and changes nothing", async () => {
  const before = machine.digest("/etc/systemd");
  const dry = await converge(({ systemdUnit }) => systemdUnit("sous-planned.service", { content: "[Service]\nExecStart=/bin/true\n", action: ["create", "enable", "start"] }), true);
  assert.equal(dry.result.status, "converged", JSON.stringify(dry.events.at(-1)));
  assert.equal(dry.updated.length, 3);
  assert.equal(machine.digest("/etc/systemd"), before);
});

test("a unit without content, or with a bad name, is refused before anything runs", async () => {
  await assert.rejects(converge(({ systemdUnit }) => systemdUnit("sous-empty.service", {})), /content: is required/);
  await assert.rejects(converge(({ systemdUnit }) => systemdUnit("../evil.service", { content: "" })), /expected a unit name/);
  await assert.rejects(converge(({ systemdUnit }) => systemdUnit("sous-shape.service", { content: { Service: "ExecStart=/bin/true" } as never })), /expected a string or an object of sections/);
});
