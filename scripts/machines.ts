/**
 * Disposable machines to try push on, booted by the same code as the tests:
 *
 *   npm run machines -- up [N]     boot N machines (default 3): systemd and sshd in each, own 127.0.N.x address
 *   npm run machines -- list       the machines that are up, with their targets
 *   npm run machines -- down       stop them and remove everything they used
 *
 * Everything lives in namespaces, on loopback addresses and in the test cache folder
 * (SOUS_TEST_CACHE, default /var/tmp/sous-test-cache): this machine's own /etc, services and
 * network are never touched. `up` also writes a demo repository (a cookbook installing a package
 * from a local apt repository bound into the machines, with its configuration, service and a user).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDemoAptRepository, DEMO_APT_DIR, writeDemoRepository } from "../test/push/demo-repository.js";
import { bootMachineSet, CACHE_DIR, keptMachines, machinesUnavailable, stopKeptMachines } from "../src/machine/machines.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TRY_DIR = join(CACHE_DIR, "try");
const sous = `node ${join(projectRoot, "bin", "sous.js")}`;

function fail(message: string): never {
  process.stderr.write(`machines: ${message}\n`);
  process.exit(1);
}

function setDirs(): string[] {
  return [...new Set(keptMachines().flatMap((m) => (m.setDir ? [m.setDir] : [])))];
}

async function up(count: number): Promise<void> {
  if (!Number.isInteger(count) || count < 1 || count > 250) fail(`up takes a number of machines from 1 to 250, got ${count}`);
  if (keptMachines().length > 0) fail("machines are already up (`npm run machines -- list`); take them down first: npm run machines -- down");
  rmSync(TRY_DIR, { recursive: true, force: true });
  const apt = buildDemoAptRepository(join(TRY_DIR, "apt"));
  const repo = writeDemoRepository(join(TRY_DIR, "repo"));
  process.stdout.write(`Booting ${count} machine${count === 1 ? "" : "s"} (the first time, the Debian base is made with debootstrap: about a minute)...\n`);
  const started = performance.now();
  // The set's keys and inventory beside the demo repository: short relative paths in the commands below.
  const set = await bootMachineSet(count, { bindReadOnly: { [apt]: DEMO_APT_DIR }, keep: true, dir: TRY_DIR });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const ssh = `-k ${relative(repo, set.keyFile)} --known-hosts ${relative(repo, set.knownHostsFile)}`;
  const inventory = relative(repo, set.inventoryFile);
  const [first] = set.machines;
  const victim = set.machines[Math.min(1, count - 1)];
  const lines = [
    `${count} machine${count === 1 ? "" : "s"} up in ${seconds} s, each running systemd and sshd in its own namespaces:`,
    ...set.machines.map((m) => `  ${m.run(["hostname"]).trim().padEnd(12)} ${m.target.padEnd(24)} nsenter://${m.pid}`),
    "",
    `Demo repository: ${repo}`,
    `  (cookbooks/demo: installs sous-demo from the apt repository bound at ${DEMO_APT_DIR}, writes its configuration, runs its service, adds a user)`,
    `Inventory:       ${set.inventoryFile}`,
    `SSH key:         ${set.keyFile}`,
    `known_hosts:     ${set.knownHostsFile}`,
    `This machine:    ${set.gateway} as the machines reach it (a server for their agents listens there: sous server --listen ${set.gateway}:8787)`,
    "",
    "Try (npm run build first if dist/ is not built):",
    `  cd ${repo}`,
    `  ${sous} converge nsenter://${first!.pid}   # the first machine, through its namespaces`,
    `  ${sous} converge ${ssh} -i ${inventory}   # every machine over SSH`,
    `      # meanwhile, in another terminal, sshd dies on ${victim!.run(["hostname"]).trim()}: nsenter -t ${victim!.pid} -a sh -c 'systemctl stop ssh; pkill -KILL -x sshd'`,
    `      # and comes back: nsenter -t ${victim!.pid} -a systemctl start ssh`,
    `  ${sous} converge ${ssh} -i ${inventory}   # again: nothing changes`,
    `  ${sous} exec 'systemctl is-active sous-demo' ${ssh} -i ${inventory}`,
    `  ssh -i ${relative(repo, set.keyFile)} -o UserKnownHostsFile=${relative(repo, set.knownHostsFile)} ${first!.target.replace("ssh://", "")}`,
    "",
    "When done: npm run machines -- down",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

function list(): void {
  const dirs = setDirs();
  if (dirs.length === 0) return void process.stdout.write("No machines are up.\n");
  for (const dir of dirs) {
    const inventory = join(dir, "inventory");
    process.stdout.write(`Inventory ${inventory} (key ${join(dir, "ssh", "client_key")}, known_hosts ${join(dir, "known_hosts")}):\n`);
    if (existsSync(inventory)) process.stdout.write(readFileSync(inventory, "utf8").replace(/^/gm, "  ").replace(/ {2}$/, ""));
  }
}

async function down(): Promise<void> {
  const stopped = await stopKeptMachines();
  rmSync(TRY_DIR, { recursive: true, force: true });
  process.stdout.write(stopped ? `Stopped ${stopped} machine${stopped === 1 ? "" : "s"}.\n` : "No machines were up.\n");
}

const [command, argument] = process.argv.slice(2);
const unavailable = machinesUnavailable();
if (unavailable) fail(unavailable);
mkdirSync(CACHE_DIR, { recursive: true });
if (command === "up") await up(argument === undefined ? 3 : Number(argument));
else if (command === "list") list();
else if (command === "down") await down();
else fail("usage: npm run machines -- up [N] | list | down");
