/**
 * `sous bootstrap`: from a workstation, over SSH, make bare hosts nodes of the server. Per
 * host: the self-contained agent is copied (unless the same one is there), its configuration
 * written, the node registers itself with a one-time token (its key pair is made on the node
 * and the private key never leaves it) or the validator key, the node is created with its run
 * list and attributes, the first run converges with its output streamed here, and the agent's
 * systemd service is enabled and started. A host already bootstrapped is left as it is
 * (`force` re-keys it). Hosts are bootstrapped in parallel, each failing alone.
 */
import { readFileSync } from "node:fs";
import { type NodeBody, SousApiError, type SousClient } from "../client/api.js";
import { SousError } from "../core/errors.js";
import type { AttributeTree } from "../dsl.js";
import type { ExecOptions, ExecResult, Host } from "../host/host.js";
import type { SshOptions, SshTarget } from "../host/ssh.js";
import { fanOut, type HostOutcome, type HostPhase } from "../push/fleet.js";
import { AGENT_HOME, type AgentBundle } from "./bundle.js";
import type { AgentConfigFile } from "./config.js";

/** Where bootstrap puts the agent's configuration and key on a node. */
export const NODE_CONFIG = "/etc/sous/agent.json";
const NODE_KEY = "/etc/sous/client.pem";
const NODE_CERT = "/etc/sous/trusted.pem";
const NODE_VALIDATOR = "/etc/sous/validator.pem";
const UNIT_FILE = "/etc/systemd/system/sous-agent.service";

/** The agent's systemd service: restarted if it ever exits, its runs killed with it. */
const UNIT = `[Unit]
Description=Sous agent: converges this node from the Sous server and reports every run
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${AGENT_HOME}/bin/sous agent
Restart=always
RestartSec=10
KillMode=control-group

[Install]
WantedBy=multi-user.target
`;

/** What to bootstrap and how. */
export interface BootstrapOptions {
  targets: readonly SshTarget[];
  ssh: SshOptions;
  concurrency?: number;
  /** The administrator's client on the server. */
  admin: SousClient;
  /** The server URL the nodes use (default: the administrator's). */
  nodeServerUrl?: string;
  org: string;
  runList: readonly string[];
  environment?: string;
  /** A node name; only with one target (default: each host's FQDN). */
  nodeName?: string;
  normal?: AttributeTree;
  force?: boolean;
  /** Register with this validator key instead of a one-time token (Chef's older way). */
  validatorKeyFile?: string;
  /** PEM file of the server's certificate, for an HTTPS server the nodes do not trust yet. */
  trustedCertificateFile?: string;
  interval?: number;
  splay?: number;
  bundle: AgentBundle;
  /** A line of a host's progress or of its first run's output. */
  onLine: (host: string, line: string) => void;
  onPhase?: (host: string, phase: HostPhase, outcome?: HostOutcome<BootstrapResult>) => void;
}

/** What happened on one host. */
export interface BootstrapResult {
  node: string;
  /** `bootstrapped`, or `already` when the host was left as it was. */
  outcome: "bootstrapped" | "already";
  /** The first run's exit code (0 converged). */
  firstRun?: number;
  detail: string;
}

async function must(host: Host, argv: readonly string[], what: string, options: ExecOptions = {}): Promise<ExecResult> {
  const result = await host.exec(argv, options);
  if (result.exitCode !== 0) throw new SousError("bootstrap_failed", `${what} failed on ${host.name} (\`${result.display}\` ${result.timedOut ? "timed out" : `exited ${result.exitCode ?? result.signal}`}): ${(result.stderr || result.stdout).trim().split("\n").slice(-5).join(" / ")}`);
  return result;
}

/** Calls `onLine` once per complete line of a stream of chunks. */
function lineSplitter(onLine: (line: string) => void): { push(text: string): void; end(): void } {
  let pending = "";
  return {
    push(text) {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) onLine(line);
    },
    end() {
      if (pending) onLine(pending);
      pending = "";
    },
  };
}

/** Bootstraps every target; one failing host never stops the others. */
export async function bootstrapHosts(options: BootstrapOptions): Promise<HostOutcome<BootstrapResult>[]> {
  if (options.nodeName !== undefined && options.targets.length > 1) throw new SousError("usage", "-N/--node-name names one node: bootstrap one host with it, or leave it out (each host's FQDN is its name)");
  const trusted = options.trustedCertificateFile ? readFileSync(options.trustedCertificateFile, "utf8") : undefined;
  const validatorKey = options.validatorKeyFile ? readFileSync(options.validatorKeyFile, "utf8") : undefined;
  const tarball = readFileSync(options.bundle.tarball);
  const { admin } = options;
  return fanOut(
    options.targets,
    { ssh: options.ssh, ...(options.concurrency ? { concurrency: options.concurrency } : {}) },
    async (target) => {
      const host = target.host;
      const say = (line: string) => options.onLine(host.name, line);
      const existing = await host.tryReadFile(NODE_CONFIG);
      let previous: AgentConfigFile | undefined;
      if (existing) {
        try {
          previous = JSON.parse(existing.toString("utf8")) as AgentConfigFile;
        } catch {
          previous = undefined;
        }
      }
      if (previous && !options.force) {
        const detail = `already bootstrapped as node ${previous.node_name} (server ${previous.server_url}, org ${previous.org}); nothing changed (--force re-keys it)`;
        return { node: previous.node_name, outcome: "already" as const, detail };
      }
      const node = options.nodeName ?? previous?.node_name ?? (await must(host, ["sh", "-c", "hostname --fqdn 2>/dev/null || hostname"], "reading the host name")).stdout.trim();
      if (!node) throw new SousError("bootstrap_failed", `${host.name} has no host name: pass -N NAME`);

      const installed = (await host.tryReadFile(`${AGENT_HOME}/bundle-id`))?.toString("utf8").trim();
      if (installed === options.bundle.id) say(`agent ${options.bundle.id} already installed in ${AGENT_HOME}`);
      else {
        say(`copying the agent (${(options.bundle.size / 1048576).toFixed(0)} MiB: node ${process.version} and sous) to ${AGENT_HOME}`);
        // Unpacked beside the old one and swapped in with two renames, so a cut connection leaves a working agent.
        await must(host, ["sh", "-c", `set -e; rm -rf ${AGENT_HOME}.new; mkdir -p ${AGENT_HOME}.new; tar -xzf - -C ${AGENT_HOME}.new; rm -rf ${AGENT_HOME}.old; if [ -e ${AGENT_HOME} ]; then mv ${AGENT_HOME} ${AGENT_HOME}.old; fi; mv ${AGENT_HOME}.new ${AGENT_HOME}; rm -rf ${AGENT_HOME}.old; ln -sfn ${AGENT_HOME}/bin/sous /usr/local/bin/sous`], "copying the agent", { input: tarball });
      }

      await host.mkdir("/etc/sous", { recursive: true, mode: 0o700 });
      await host.chmod("/etc/sous", 0o700);
      if (trusted) await host.writeFileAtomic(NODE_CERT, trusted, { mode: 0o644 });
      const config: AgentConfigFile = {
        server_url: options.nodeServerUrl ?? admin.options.serverUrl,
        org: options.org,
        node_name: node,
        client_key: NODE_KEY,
        ...(trusted ? { trusted_certificate: NODE_CERT } : {}),
        // Bootstrapped again (--force): what the earlier bootstrap set stays unless given now.
        ...((options.environment ?? previous?.environment) ? { environment: options.environment ?? previous?.environment } : {}),
        ...((options.interval ?? previous?.interval) !== undefined ? { interval: options.interval ?? previous?.interval } : {}),
        ...((options.splay ?? previous?.splay) !== undefined ? { splay: options.splay ?? previous?.splay } : {}),
      };
      await host.writeFileAtomic(NODE_CONFIG, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });

      if (options.force && previous) {
        say(`--force: stopping the agent and re-keying node ${node}`);
        await host.exec(["systemctl", "stop", "sous-agent.service"]);
        await host.remove(NODE_KEY).catch(() => undefined);
      }
      // A client of that name on the server: re-keyed only with --force (its old key stops working now).
      try {
        await admin.getObject("clients", node);
        if (!options.force) throw new SousError("bootstrap_failed", `the server already has a client named ${node} (another machine's?): pass --force to give it a new key made on ${host.name}, or -N another name`);
        await admin.deleteObject("clients", node);
        // Deleting revokes the name; the administrator re-keying it allows it again for the node's registration.
        await admin.deleteRevocation(node);
      } catch (error) {
        if (!(error instanceof SousApiError && error.status === 404)) throw error;
      }
      say(`registering node ${node} (its key is made on the node${validatorKey ? ", with the validator key" : ", with a one-time token"})`);
      if (validatorKey) {
        await host.writeFileAtomic(NODE_VALIDATOR, validatorKey, { mode: 0o600 });
        await must(host, [`${AGENT_HOME}/bin/sous`, "agent", "register", "--validator-key", NODE_VALIDATOR], "registering");
      } else {
        const body = await admin.createBootstrapToken(600);
        // On standard input: a token in the command line would show in the node's process list.
        await must(host, [`${AGENT_HOME}/bin/sous`, "agent", "register", "--token-stdin"], "registering", { input: `${body.token}\n`, secrets: [body.token] });
      }

      let current: NodeBody | undefined;
      try {
        current = (await admin.getNode(node)).body;
      } catch (error) {
        if (!(error instanceof SousApiError && error.status === 404)) throw error;
      }
      const saved = {
        ...(current ?? {}),
        name: node,
        chef_environment: options.environment ?? current?.chef_environment ?? "_default",
        run_list: options.runList.length > 0 || !current ? [...options.runList] : current.run_list,
        normal: { ...(current?.normal ?? {}), ...(options.normal ?? {}) },
      };
      await admin.putObject("nodes", node, saved);
      say(`node ${node}: run list ${saved.run_list.join(", ") || "(empty)"}, environment ${saved.chef_environment}; first run:`);

      const lines = lineSplitter((line) => say(`  ${line}`));
      const first = await host.exec([`${AGENT_HOME}/bin/sous`, "agent", "--once"], { env: { NO_COLOR: "1" }, onOutput: (text) => lines.push(text) });
      lines.end();

      await host.writeFileAtomic(UNIT_FILE, UNIT, { mode: 0o644 });
      await must(host, ["systemctl", "daemon-reload"], "reloading systemd");
      await must(host, ["systemctl", "enable", "--now", "sous-agent.service"], "starting the agent's service");
      if (options.force && previous) await must(host, ["systemctl", "restart", "sous-agent.service"], "restarting the agent's service");
      const active = (await host.exec(["systemctl", "is-active", "sous-agent.service"])).stdout.trim();
      const run = first.exitCode === 0 ? "first run converged" : `first run FAILED (exit ${first.exitCode ?? first.signal})`;
      return { node, outcome: "bootstrapped" as const, firstRun: first.exitCode ?? -1, detail: `bootstrapped as node ${node}: ${run}; agent service ${active}` };
    },
    options.onPhase,
  );
}
