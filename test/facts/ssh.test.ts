/**
 * Facts of a push target over SSH (a host of the test fleet: its own network namespace, host
 * name and root): one command, and the facts describe the target, not this machine.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { gatherFacts } from "../../src/facts/gather.js";
import type { Host } from "../../src/host/host.js";
import { LocalHost } from "../../src/host/local.js";
import { parseTarget, SshHost } from "../../src/host/ssh.js";
import { fleetUnavailable, useFleet } from "../fleet/index.js";

const skip = fleetUnavailable() ?? false;
const startedFleet = useFleet(1);

/** The host with its exec calls counted. */
function counting(host: Host): { host: Host; commands: () => number } {
  let count = 0;
  const wrapped = new Proxy(host, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property === "exec") return (...args: Parameters<Host["exec"]>) => (count++, target.exec(...args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { host: wrapped, commands: () => count };
}

test("an SSH target's facts come in one command and describe the target", { skip }, async () => {
  const fleet = await startedFleet();
  const target = fleet.hosts[0]!;
  const ssh = await SshHost.connect(parseTarget(target.target), { identityFile: fleet.keyFile, knownHostsFile: fleet.knownHostsFile });
  try {
    const { host, commands } = counting(ssh);
    const facts = await gatherFacts(host);
    assert.equal(commands(), 1, "one round trip");
    assert.equal(facts.hostname, target.name);
    assert.equal(facts.ipaddress, target.address);
    assert.deepEqual(Object.keys(facts.network.interfaces).sort(), ["eth0", "lo"]);
    assert.equal(facts.network.interfaces.eth0?.addresses[target.address]?.prefixlen, "24");
    assert.equal(facts.current_user, "root");
    // Same kernel and same root file system underneath (the fleet's overlay), other network and name.
    const local = await gatherFacts(new LocalHost());
    assert.equal(facts.kernel.release, local.kernel.release);
    assert.equal(facts.platform, local.platform);
    assert.equal(facts.memory.total, local.memory.total);
    assert.notEqual(facts.ipaddress, local.ipaddress);
  } finally {
    ssh.close();
  }
});
