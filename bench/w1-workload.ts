/**
 * Workload W1 of shared/WORKLOADS.md, written three times from one description: as a Sous
 * repository (a cookbook whose recipe declares the resources from attributes), as an Ansible
 * playbook (`connection: local`) and as a Puppet manifest with a module template. Every
 * version must leave the same tree behind; the benchmark checks that with `treeSummary`.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The workload's size and its one template variable. */
export interface W1Shape {
  /** Absolute path of the directory the tools converge. */
  root: string;
  files: number;
  directories: number;
  links: number;
  commands: number;
  /** The variable every rendered file contains, beside its index. */
  greeting: string;
  /** Packages that are already installed: converging them must change nothing. */
  packages: string[];
}

/** W1 as shared/WORKLOADS.md defines it. */
export const W1_COUNTS = { files: 300, directories: 50, links: 50, commands: 20 } as const;

/** W1's packages: installed on every Debian machine, so no run may install anything. */
export const W1_PACKAGES = ["coreutils", "bash", "tar"];

/** The greeting W1 renders into every file. */
export const W1_GREETING = "hello from W1";

/** How many resources a first run changes: all but the packages, which are already installed. */
export function changedOnFirstRun(shape: W1Shape): number {
  return shape.files + shape.directories + shape.links + shape.commands;
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

// Layout shared by the three versions: dir-NN/, dir-NN/file-NNN.conf (files spread over the
// directories), link-NN -> dir-NN, and dir-NN/done-NN.marker made by command NN.

/** Writes a Sous repository for W1 under `dir`; returns the `-j` attributes file. */
export function writeSousRepository(dir: string, shape: W1Shape): string {
  write(join(dir, "sous.config.ts"), `import { config } from "sous";\n\nexport default config({ runList: ["recipe[w1]"] });\n`);
  write(join(dir, "cookbooks/w1/package.json"), `${JSON.stringify({ name: "w1", version: "1.0.0", private: true }, null, 2)}\n`);
  write(
    join(dir, "cookbooks/w1/attributes.ts"),
    `import { attributes } from "sous";

/** W1's shape; the benchmark passes the real values with -j. */
export default attributes({
  w1: { root: "/tmp/w1", files: 0, directories: 0, links: 0, commands: 0, greeting: "", packages: [] as string[] },
});
`,
  );
  write(join(dir, "cookbooks/w1/templates/file.conf.ejs"), "# W1 file <%= index %>, rendered from one template\nindex = <%= index %>\ngreeting = <%= greeting %>\n");
  write(
    join(dir, "cookbooks/w1/recipes/default.ts"),
    `import { recipe } from "sous";
import type defaults from "../attributes.js";

const pad = (n: number, width: number) => String(n).padStart(width, "0");

export default recipe<typeof defaults>(({ node, resources: { package: pkg, directory, template, link, execute } }) => {
  const w1 = node.attributes.w1;
  const dir = (n: number) => \`\${w1.root}/dir-\${pad(n, 2)}\`;

  for (const name of w1.packages) pkg(name);

  for (let d = 1; d <= w1.directories; d++) directory(dir(d), { mode: "0755" });
  for (let i = 1; i <= w1.files; i++) {
    template(\`\${dir(((i - 1) % w1.directories) + 1)}/file-\${pad(i, 3)}.conf\`, {
      source: "file.conf.ejs",
      mode: "0644",
      variables: { index: i, greeting: w1.greeting },
    });
  }
  for (let l = 1; l <= w1.links; l++) link(\`\${w1.root}/link-\${pad(l, 2)}\`, { to: dir(l) });
  for (let c = 1; c <= w1.commands; c++) {
    const marker = \`\${dir(c)}/done-\${pad(c, 2)}.marker\`;
    execute(\`command \${c}\`, { command: ["/bin/sh", "-c", \`echo "command \${c} ran" > "$1"\`, "sh", marker], creates: marker });
  }
});
`,
  );
  const attributesFile = join(dir, "attrs.json");
  write(attributesFile, `${JSON.stringify({ run_list: ["recipe[w1]"], w1: shape }, null, 2)}\n`);
  return attributesFile;
}

/** Writes an Ansible playbook for W1 under `dir`; returns its path. */
export function writeAnsiblePlaybook(dir: string, shape: W1Shape): string {
  write(join(dir, "templates/file.conf.j2"), "# W1 file {{ item }}, rendered from one template\nindex = {{ item }}\ngreeting = {{ w1.greeting }}\n");
  // Facts are not gathered: the peer gets its fastest configuration.
  const playbook = `- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    w1: ${JSON.stringify(shape)}
  tasks:
    - name: packages
      ansible.builtin.apt:
        name: "{{ w1.packages }}"
        state: present
    - name: directories
      ansible.builtin.file:
        path: "{{ w1.root }}/dir-{{ '%02d' | format(item) }}"
        state: directory
        mode: "0755"
      loop: "{{ range(1, w1.directories + 1) | list }}"
    - name: files from one template
      ansible.builtin.template:
        src: templates/file.conf.j2
        dest: "{{ w1.root }}/dir-{{ '%02d' | format((item - 1) % w1.directories + 1) }}/file-{{ '%03d' | format(item) }}.conf"
        mode: "0644"
      loop: "{{ range(1, w1.files + 1) | list }}"
    - name: links
      ansible.builtin.file:
        path: "{{ w1.root }}/link-{{ '%02d' | format(item) }}"
        src: "{{ w1.root }}/dir-{{ '%02d' | format(item) }}"
        state: link
      loop: "{{ range(1, w1.links + 1) | list }}"
    - name: guarded commands
      ansible.builtin.command:
        argv: ["/bin/sh", "-c", 'echo "command {{ item }} ran" > "$1"', "sh", "{{ w1.root }}/dir-{{ '%02d' | format(item) }}/done-{{ '%02d' | format(item) }}.marker"]
        creates: "{{ w1.root }}/dir-{{ '%02d' | format(item) }}/done-{{ '%02d' | format(item) }}.marker"
      loop: "{{ range(1, w1.commands + 1) | list }}"
`;
  const path = join(dir, "w1.yml");
  write(path, playbook);
  write(join(dir, "inventory"), "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n");
  return path;
}

/** Writes a Puppet manifest and its module (the template) under `dir`; returns the manifest. */
export function writePuppetManifest(dir: string, shape: W1Shape): { manifest: string; modulepath: string } {
  const modulepath = join(dir, "code/environments/production/modules");
  write(join(modulepath, "w1/templates/file.conf.epp"), "<%- | Integer $index, String $greeting | -%>\n# W1 file <%= $index %>, rendered from one template\nindex = <%= $index %>\ngreeting = <%= $greeting %>\n");
  const manifest = `$w1 = ${puppetHash(shape)}
$root = $w1['root']

package { $w1['packages']: ensure => installed }

Integer[1, $w1['directories']].each |$d| {
  file { sprintf("\${root}/dir-%02d", $d): ensure => directory, mode => '0755' }
}
Integer[1, $w1['files']].each |$i| {
  $d = ($i - 1) % $w1['directories'] + 1
  file { sprintf("\${root}/dir-%02d/file-%03d.conf", $d, $i):
    ensure  => file,
    mode    => '0644',
    content => epp('w1/file.conf.epp', { 'index' => $i, 'greeting' => $w1['greeting'] }),
  }
}
Integer[1, $w1['links']].each |$l| {
  file { sprintf("\${root}/link-%02d", $l): ensure => link, target => sprintf("\${root}/dir-%02d", $l) }
}
Integer[1, $w1['commands']].each |$c| {
  $marker = sprintf("\${root}/dir-%02d/done-%02d.marker", $c, $c)
  exec { "command \${c}":
    command => ['/bin/sh', '-c', "echo \\"command \${c} ran\\" > \\"\\$1\\"", 'sh', $marker],
    creates => $marker,
  }
}
`;
  const path = join(dir, "w1.pp");
  write(path, manifest);
  return { manifest: path, modulepath };
}

function puppetHash(shape: W1Shape): string {
  const quote = (value: string) => `'${value.replace(/[\\']/g, "\\$&")}'`;
  const entries = Object.entries(shape).map(([key, value]) => `'${key}' => ${typeof value === "number" ? value : Array.isArray(value) ? `[${value.map(quote).join(", ")}]` : quote(String(value))}`);
  return `{ ${entries.join(", ")} }`;
}

/**
 * A line per entry under `root` (path, kind, mode, link target or content), sorted: equal
 * summaries mean two tools left the same tree. Timestamps are left out on purpose, and link
 * targets show `root` as `<root>`, so trees under different roots compare.
 */
export function treeSummary(root: string): string {
  const lines: string[] = [];
  const visit = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const info = lstatSync(path);
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) lines.push(`${rel} link -> ${readlinkSync(path).replace(root, "<root>")}`);
      else if (info.isDirectory()) {
        lines.push(`${rel} dir ${mode}`);
        visit(path, rel);
      } else lines.push(`${rel} file ${mode} ${JSON.stringify(readFileSync(path, "utf8"))}`);
    }
  };
  visit(root, "");
  return lines.join("\n");
}
