/** `sous converge` on targets of this machine other than itself: `--root DIR`, `nsenter://PID`, `machine://NAME`. */
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { scratch, sous } from "../helpers.js";
import { createDisposableRoot } from "../support/disposable-root.js";
import { startMachine } from "../support/machine.js";
import { writeW2Repository } from "./repository.js";

const repo = writeW2Repository(scratch("sous-local-targets-"), { files: 3, directories: 1, root: "/srv/local-targets" });


test("--root DIR converges the system in that directory, and a second run changes nothing", async () => {
  const box = createDisposableRoot();
  const first = await sous("converge", "--repo", repo, "--root", box.root);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /Converged: 4 resources, 4 updated/);
  assert.match(readFileSync(box.path("/srv/local-targets/d0/f2.conf"), "utf8"), /^index = 2\n/);
  assert.equal(existsSync("/srv/local-targets"), false, "this machine is untouched");
  const second = await sous("converge", "--repo", repo, "--root", box.root);
  assert.match(second.stdout, /Converged: 4 resources, 0 updated/);
});

test("nsenter://PID and machine://NAME converge a running machine through its namespaces", async () => {
  const machine = await startMachine();
  const first = await sous("converge", "--repo", repo, `nsenter://${machine.pid}`);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /Converging sous-machine: 4 resources/, "the node is named by the machine's own facts");
  assert.equal(readFileSync(machine.path("/srv/local-targets/d0/f1.conf"), "utf8"), "index = 1\nhost = sous-machine\n");

  // machinectl answers for machines registered with systemd-machined; this one answers for the test machine.
  const bin = scratch("sous-fake-machinectl-");
  writeFileSync(join(bin, "machinectl"), `#!/bin/sh\n[ "$*" = "show --property=Leader --value -- web1" ] && echo ${machine.pid} && exit 0\necho "No machine '$5' known" >&2\nexit 1\n`);
  chmodSync(join(bin, "machinectl"), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    machine.run(["rm", "/srv/local-targets/d0/f1.conf"]);
    const byName = await sous("converge", "--repo", repo, "machine://web1");
    assert.equal(byName.code, 0, byName.stdout + byName.stderr);
    assert.match(byName.stdout, /Converged: 4 resources, 1 updated/);
    const unknown = await sous("converge", "--repo", repo, "machine://db9");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /machine:\/\/db9: cannot find the machine: No machine 'db9' known; for a container systemd-machined does not know, use nsenter:\/\/PID/);
  } finally {
    process.env.PATH = path;
  }
});

test("a wrong local target is a usage error that says what was expected", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["nsenter://web1"], /nsenter:\/\/web1: expected the process id of the container's init/],
    [["nsenter://4194999"], /nsenter:\/\/4194999: no process 4194999 on this machine/],
    [["--root", "/nonexistent/sous-root"], /--root \/nonexistent\/sous-root: not a directory/],
    [["nsenter://1", "ssh://root@127.0.0.1"], /one machine at a time: pass SSH targets in a separate run/],
    [["--root", "/", "nsenter://1"], /--root and a machine target both name what to converge/],
  ];
  for (const [args, message] of cases) {
    const result = await sous("converge", "--repo", repo, ...args);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.stderr, message);
  }
});
