/**
 * The recipe functions' TypeScript types, derived from each type's property specs, stay as
 * strict as a recipe author needs: a misspelled property, a value of the wrong type or a
 * missing required property is a compile error (`npm run typecheck` checks every
 * `@ts-expect-error` below: one that no longer errors fails it). At run time the same
 * mistakes (from JavaScript, or past a cast) are refused with the declaration's file:line and
 * the property's name.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ResourceCollection } from "../../src/core/collection.js";
import { ValidationError } from "../../src/core/errors.js";
import { type NodeView, type Resources, resourceFunctions } from "../../src/dsl.js";
import { builtinRegistry } from "../../src/resources/registry.js";

/** Never called: only compiled. Each pair is a typo in a property name, then a wrong value type. */
export function compileTimeMistakes(r: Resources): void {
  // @ts-expect-error: no such property
  r.file("/etc/motd", { contnet: "hi" });
  // @ts-expect-error: content is text or a Buffer
  r.file("/etc/motd", { content: 42 });
  // @ts-expect-error: no such property
  r.directory("/srv", { recursve: true });
  // @ts-expect-error: mode is a number or an octal string
  r.directory("/srv", { mode: true });
  // @ts-expect-error: to is required
  r.link("/srv/current", {});
  // @ts-expect-error: linkType is symbolic or hard
  r.link("/srv/current", { to: "/srv/a", linkType: "soft" });
  // @ts-expect-error: no such property
  r.template("/etc/app.conf", { source: "app.conf.ejs", variabels: {} });
  // @ts-expect-error: the variables are typed by the type argument
  r.template<{ port: number }>("/etc/app.conf", { source: "app.conf.ejs", variables: { port: "80" } });
  // @ts-expect-error: source is required
  r.remoteFile("/tmp/x.tgz", { checksum: "abc" });
  // @ts-expect-error: headers are strings
  r.remoteFile("/tmp/x.tgz", { source: "https://example.org/x.tgz", headers: { "X-Token": 1 } });
  // @ts-expect-error: no such property
  r.execute("setup", { comand: "true" });
  // @ts-expect-error: returns is a list of exit codes
  r.execute("setup", { command: "true", returns: 0 });
  // @ts-expect-error: block is required
  r.code("hook", {});
  // @ts-expect-error: block is a function
  r.code("hook", { block: "console.log(1)" });
  // @ts-expect-error: repository is required
  r.git("/srv/app", { revision: "main" });
  // @ts-expect-error: depth is a number
  r.git("/srv/app", { repository: "https://example.org/app.git", depth: "1" });
  // @ts-expect-error: no such property
  r.mount("/mnt/data", { device: "/dev/sdb1", fsType: "ext4" });
  // @ts-expect-error: dump is a number
  r.mount("/mnt/data", { device: "/dev/sdb1", dump: "0" });
  // @ts-expect-error: no such property
  r.sysctl("net.ipv4.ip_forward", { valeu: "1" });
  // @ts-expect-error: value is text, a number or a list of them
  r.sysctl("net.ipv4.ip_forward", { value: true });
  // @ts-expect-error: no such property
  r.hostname("web1", { alias: ["www"] });
  // @ts-expect-error: aliases is a list
  r.hostname("web1", { aliases: "www" });
  // @ts-expect-error: no such property
  r.systemdUnit("app.service", { contents: "" });
  // @ts-expect-error: triggersReload is true or false
  r.systemdUnit("app.service", { content: "", triggersReload: "yes" });
  // @ts-expect-error: no such property
  r.service("nginx", { servicename: "nginx" });
  // @ts-expect-error: provider is auto, systemd or sysvinit
  r.service("nginx", { provider: "upstart" });
  // @ts-expect-error: no such action
  r.service("nginx", { action: "bounce" });
  // @ts-expect-error: no such property
  r.package("nginx", { versions: "1.2" });
  // @ts-expect-error: timeout is a number
  r.package("nginx", { timeout: "60" });
  // @ts-expect-error: no such property
  r.aptUpdate("apt", { frequncy: 60 });
  // @ts-expect-error: frequency is a number
  r.aptUpdate("apt", { frequency: "daily" });
  // @ts-expect-error: no such property
  r.line("/etc/hosts", { lines: "x" });
  // @ts-expect-error: firstMatch is true or false
  r.line("/etc/hosts", { line: "x", firstMatch: 1 });
  // @ts-expect-error: no such property
  r.user("deploy", { shel: "/bin/sh" });
  // @ts-expect-error: uid is a number
  r.user("deploy", { uid: "1000" });
  // @ts-expect-error: no such property
  r.group("deploy", { member: ["a"] });
  // @ts-expect-error: gid is a number
  r.group("deploy", { gid: "2000" });
  // @ts-expect-error: destination is required
  r.archive("/tmp/a.tgz", { format: "tar" });
  // @ts-expect-error: format is tar or zip
  r.archive("/tmp/a.tgz", { destination: "/srv/a", format: "rar" });
  // @ts-expect-error: no such property
  r.cron("backup", { minutes: "5" });
  // @ts-expect-error: environment is a map of strings
  r.cron("backup", { command: "true", environment: { A: 1 } });
  // @ts-expect-error: no such property
  r.aptRepository("nodesource", { uris: "https://deb.nodesource.com" });
  // @ts-expect-error: trusted is true or false
  r.aptRepository("nodesource", { uri: "https://deb.nodesource.com", trusted: "yes" });
  // @ts-expect-error: a line needs its properties (line or regexp)
  r.line("/etc/hosts");
  // @ts-expect-error: a cron entry needs its properties (the command)
  r.cron("backup");
  // @ts-expect-error: the name is the first argument, not a property
  r.execute("setup", { name: "other", command: "true" });
  // @ts-expect-error: the name is the first argument, not a property
  r.user("deploy", { name: "deploy2" });
  // @ts-expect-error: no such resource type
  r.packages("nginx");
}

/** Never called: what stays accepted (the name argument's defaults, several forms of a value). */
export function compileTimeAccepted(r: Resources): void {
  r.file("/etc/motd");
  r.directory("/srv", { mode: "0755", owner: "root", group: 0 });
  r.template<{ port: number }>("/etc/app.conf", { inline: "<%= port %>", variables: { port: 80 } });
  r.execute("true", { command: ["true"], environment: { A: "1" }, action: ["run"] });
  r.sysctl("net.ipv4.ip_local_port_range", { value: [32768, 60999] });
  r.systemdUnit("app.service", { content: { Service: { ExecStart: "/bin/true", Restart: "always" } } });
  r.package("tools", { packageName: ["curl", "jq"] });
  r.aptUpdate();
  r.code("hook", { block: ({ log }) => log("ran") });
}

const node = { name: "test", attributes: {} } as NodeView;

/** The problems of declaring with `declare`, as the validation error prints them. */
function problems(declare: (r: Record<string, (name: string, properties?: object) => unknown>) => void): string {
  const collection = new ResourceCollection();
  const registry = builtinRegistry();
  const functions = resourceFunctions(() => ({ collection, registry, recipe: "test::default", cookbook: { name: "test", version: "1.0.0", dir: "/nonexistent" } }), node);
  declare(functions as unknown as Record<string, (name: string, properties?: object) => unknown>);
  try {
    collection.freeze();
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error.message;
  }
  return "";
}

test("at run time, a misspelled property and a wrong value are refused with the declaration's file:line and the property", () => {
  const message = problems((r) => {
    r.file!("/etc/motd", { contnet: "hi" });
    r.user!("deploy", { uid: "1000" });
    r.link!("/srv/current", {});
  });
  assert.match(message, /dsl-types\.test\.ts:\d+.*file\[\/etc\/motd\]\.contnet: unknown property of file \(did you mean content\?\); known properties: content, source, mode/);
  assert.match(message, /dsl-types\.test\.ts:\d+.*user\[deploy\]\.uid: expected an integer from 0 to 4294967294, got "1000"/);
  assert.match(message, /dsl-types\.test\.ts:\d+.*link\[\/srv\/current\]\.to: is required \(a non-empty string\)/);
});

test("every built-in type is a recipe function named after it", () => {
  const functions = resourceFunctions(() => ({ collection: new ResourceCollection(), registry: builtinRegistry(), recipe: "t::d", cookbook: { name: "t", version: "1.0.0", dir: "/x" } }), node);
  for (const type of builtinRegistry().list()) {
    const name = type.name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    assert.equal(typeof (functions as unknown as Record<string, unknown>)[name], "function", type.name);
  }
});
