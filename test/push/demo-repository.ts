/**
 * What a new user converges first: a cookbook that adds an apt repository, installs a package
 * from it, writes the package's configuration from a template, enables and starts its service
 * (restarted when the configuration changes) and adds a user. The apt repository is a folder
 * of one small .deb built here, bound read-only into disposable machines at `DEMO_APT_DIR`:
 * no network needed. Used by the push scenario test and by `npm run machines`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDeb, indexRepository } from "../support/disposable-root.js";

/** Where the demo apt repository is inside a machine. */
export const DEMO_APT_DIR = "/srv/sous-apt";
/** Where the service copies the configuration it started with: what a restart picked up. */
export const DEMO_RUNNING_CONFIG = "/run/sous-demo/running.conf";

// The service reads its configuration when it starts and then waits: enough to see that a
// configuration change restarted it. The reading is a start step of its own, so that it is
// done when `systemctl restart` returns.
const READ_CONFIG = `#!/bin/sh
set -e
mkdir -p /run/sous-demo
cp /etc/sous-demo/demo.conf ${DEMO_RUNNING_CONFIG}
`;

const UNIT = `[Unit]
Description=Sous demo service: reads its configuration, then waits

[Service]
ExecStartPre=/bin/sh /usr/share/sous-demo/read-config.sh
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
`;

/** Builds the `sous-demo` package (a service with its unit and a default configuration) and indexes `dir` as a flat apt repository. */
export function buildDemoAptRepository(dir: string): string {
  buildDeb(dir, {
    name: "sous-demo",
    version: "1.0-1",
    files: {
      "/usr/share/sous-demo/read-config.sh": READ_CONFIG,
      "/lib/systemd/system/sous-demo.service": UNIT,
      "/etc/sous-demo/demo.conf": "greeting = from the package\n",
    },
    conffiles: ["/etc/sous-demo/demo.conf"],
  });
  indexRepository(dir);
  return dir;
}

/** Writes a repository (sous.config.ts and the `demo` cookbook) into `dir`; returns `dir`. */
export function writeDemoRepository(dir: string): string {
  const cookbook = join(dir, "cookbooks", "demo");
  mkdirSync(join(cookbook, "recipes"), { recursive: true });
  mkdirSync(join(cookbook, "templates"), { recursive: true });
  writeFileSync(join(dir, "sous.config.ts"), `import { config } from "sous";\n\nexport default config({ runList: ["recipe[demo]"] });\n`);
  writeFileSync(join(cookbook, "package.json"), `${JSON.stringify({ name: "demo", version: "1.0.0", private: true }, null, 2)}\n`);
  writeFileSync(
    join(cookbook, "attributes.ts"),
    `import { attributes } from "sous";

export default attributes({
  demo: { greeting: "hello", workers: 2, user: "demo" },
});
`,
  );
  writeFileSync(
    join(cookbook, "recipes", "default.ts"),
    `import { recipe } from "sous";
import type defaults from "../attributes.js";

export default recipe<typeof defaults>(({ node, resources: { aptRepository, package: pkg, template, service, user } }) => {
  const demo = node.attributes.demo;

  // A flat repository of local .deb files (a real one would have a URL and a signing key).
  aptRepository("sous-demo", { uri: "file:${DEMO_APT_DIR}", suites: ["./"], trusted: true });
  pkg("sous-demo");

  const config = template("/etc/sous-demo/demo.conf", {
    source: "demo.conf.ejs",
    mode: "0644",
    variables: { greeting: demo.greeting, workers: demo.workers },
  });

  // Restarted right after its configuration changes, before the rest of the run.
  service("sous-demo", { action: ["enable", "start"], subscribes: { restart: { target: config, timing: "immediately" } } });

  user(demo.user, { comment: "Sous demo", shell: "/bin/sh", home: \`/home/\${demo.user}\`, manageHome: true });
});
`,
  );
  writeFileSync(
    join(cookbook, "templates", "demo.conf.ejs"),
    `# Written by Sous for <%= node.name %>
greeting = <%= greeting %>
workers = <%= workers %>
`,
  );
  return dir;
}
