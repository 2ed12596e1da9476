/**
 * `apt_repository`: an apt source in /etc/apt/sources.list.d, as a deb822 `.sources` file
 * (default) or a one-line `.list`, with its signing key in /etc/apt/keyrings referenced by
 * `signed-by` (never the deprecated global trusted.gpg). When the source or key changed, the
 * lists of that source alone are refreshed, so a package resource declared after it sees its
 * packages in the same run.
 */
import { SousError } from "../core/errors.js";
import { type InputOf, type OutputOf, prop, type PropertySpec } from "../core/properties.js";
import { type Change, defineType, type Plan } from "../core/resource.js";
import { run } from "../host/host.js";
import { APT_ENV, aptGet } from "./apt.js";
import { findLeftovers, leftoverChange, removeLeftovers } from "./leftovers.js";
import { contentDiff, loadDiffLibrary, sha256 } from "./metadata.js";

/** Where source files go. */
export const SOURCES_DIR = "/etc/apt/sources.list.d";
/** Where signing keys go. */
export const KEYRINGS_DIR = "/etc/apt/keyrings";

interface FileState {
  path: string;
  content: Buffer | undefined;
  mode: number | undefined;
}

interface AptRepositoryCurrent {
  sources: FileState;
  /** The file of the other format, removed when present. */
  otherSources: FileState;
  key: FileState;
  /** A key file of the other encoding (armored vs binary), removed when present. */
  otherKey: FileState;
  /** Temporary files that killed writes of these four files left beside them (full paths). */
  leftovers?: string[];
}

const ARMORED = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

const properties = {
  name: prop.matching("a file name (letters, digits, _ . -)", (v) => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v), { role: "identity" }),
  /** The repository's URI, or several mirrors of it. */
  uri: prop.stringOrList("a URI or a non-empty array of URIs", (v) => v !== ""),
  /** Suites (distributions), e.g. `["bookworm"]`; `["./"]` for a flat repository. */
  suites: prop.stringArray({ nonEmpty: true, default: () => ["./"] }),
  /** Components, e.g. `["main"]`; none for a flat repository. */
  components: prop.stringArray({ default: () => [] }),
  /** `deb`, `deb-src` or both (default `["deb"]`); validate refuses other words at run time. */
  types: prop.stringArray({ nonEmpty: true, default: () => ["deb"] }) as PropertySpec<string[], ReadonlyArray<"deb" | "deb-src">, "defaulted">,
  architectures: prop.stringArray({ nonEmpty: true }),
  /** The repository's public signing key (ASCII-armored or binary), written to /etc/apt/keyrings. */
  key: prop.content(),
  /** Accept the repository unsigned (default false: never do this for a network source). */
  trusted: prop.boolean({ default: false }),
  /** `deb822` (a .sources file, default) or `list` (a one-line .list file). */
  format: prop.oneOf(["deb822", "list"], { default: "deb822" }),
  /** Refresh this source's package lists when something changed (default true). */
  updateCache: prop.boolean({ role: "control", default: true }),
};

type AptRepositoryProperties = OutputOf<typeof properties>;

/** What a recipe writes for `apt_repository` (derived from its property specs). */
export type AptRepositoryInput = InputOf<typeof properties>;

/** Actions of `apt_repository`. */
export type AptRepositoryAction = (typeof aptRepositoryType.actions)[number];

function uris(properties: Readonly<AptRepositoryProperties>): string[] {
  return properties.uri ?? [];
}

function keyBytes(properties: Readonly<AptRepositoryProperties>): Buffer | undefined {
  const key = properties.key;
  if (key === undefined) return undefined;
  return Buffer.isBuffer(key) ? key : Buffer.from(key.endsWith("\n") ? key : `${key}\n`, "utf8");
}

/** apt reads a keyring by its extension: .asc for armored keys, .gpg for binary ones. */
function keyPaths(properties: Readonly<AptRepositoryProperties>): { key: string; other: string } {
  const armored = keyBytes(properties)?.subarray(0, 200).toString("utf8").includes(ARMORED) ?? true;
  const asc = `${KEYRINGS_DIR}/${properties.name}.asc`;
  const gpg = `${KEYRINGS_DIR}/${properties.name}.gpg`;
  return armored ? { key: asc, other: gpg } : { key: gpg, other: asc };
}

function sourcePaths(properties: Readonly<AptRepositoryProperties>): { sources: string; other: string } {
  const deb822 = `${SOURCES_DIR}/${properties.name}.sources`;
  const list = `${SOURCES_DIR}/${properties.name}.list`;
  return properties.format === "deb822" ? { sources: deb822, other: list } : { sources: list, other: deb822 };
}

/** The source file's text for the declared repository. */
export function sourcesContent(properties: Readonly<AptRepositoryProperties>, signedBy: string | undefined): string {
  const header = "# Managed by Sous: changes here are overwritten.\n";
  if (properties.format === "deb822") {
    const fields: Array<[string, string[] | undefined]> = [
      ["Types", properties.types],
      ["URIs", uris(properties)],
      ["Suites", properties.suites],
      ["Components", properties.components.length ? properties.components : undefined],
      ["Architectures", properties.architectures],
      ["Signed-By", signedBy ? [signedBy] : undefined],
      ["Trusted", properties.trusted ? ["yes"] : undefined],
    ];
    return header + fields.filter(([, values]) => values !== undefined).map(([key, values]) => `${key}: ${values!.join(" ")}\n`).join("");
  }
  const options = [
    ...(properties.architectures ? [`arch=${properties.architectures.join(",")}`] : []),
    ...(signedBy ? [`signed-by=${signedBy}`] : []),
    ...(properties.trusted ? ["trusted=yes"] : []),
  ];
  const lines: string[] = [];
  for (const type of properties.types) {
    for (const uri of uris(properties)) {
      for (const suite of properties.suites) {
        lines.push([type, ...(options.length ? [`[${options.join(" ")}]`] : []), uri, suite, ...properties.components].join(" "));
      }
    }
  }
  return header + lines.map((line) => `${line}\n`).join("");
}

function describe(content: Buffer | undefined): string | undefined {
  return content === undefined ? undefined : `sha256:${sha256(content).slice(0, 16)} (${content.length} bytes)`;
}

const WORD = /^[^\s[\]#]+$/;

/** The `apt_repository` resource type. */
export const aptRepositoryType = defineType({
  name: "apt_repository",
  description: "An apt source (deb822 .sources or one-line .list) with its signed-by key; refreshes that source's lists when changed.",
  actions: ["add", "remove", "nothing"],
  defaultAction: "add",
  identity: "name",
  properties,
  // add needs the uri (validate says so): a declaration without properties is a compile error.
  propertiesRequired: true,
  validate(properties, actions) {
    const problems: Array<[string, string]> = [];
    if (actions.includes("add") && uris(properties).length === 0) problems.push(["uri", "add needs the repository's URI"]);
    for (const type of properties.types) if (type !== "deb" && type !== "deb-src") problems.push(["types", `${JSON.stringify(type)} is neither deb nor deb-src`]);
    for (const [key, values] of [["uri", uris(properties)], ["suites", properties.suites], ["components", properties.components], ["architectures", properties.architectures ?? []]] as const) {
      for (const value of values) if (!WORD.test(value)) problems.push([key, `${JSON.stringify(value)} must be one word without [ ] or #`]);
    }
    const key = properties.key;
    if (typeof key === "string" && !key.includes(ARMORED)) problems.push(["key", "a string key must be ASCII-armored (-----BEGIN PGP PUBLIC KEY BLOCK-----); give a Buffer for a binary key"]);
    return problems;
  },
  provider: {
    async read({ host }, properties, action): Promise<AptRepositoryCurrent> {
      const { sources, other } = sourcePaths(properties);
      const keys = keyPaths(properties);
      const state = async (path: string): Promise<FileState> => {
        const stat = await host.tryLstat(path);
        if (stat && stat.type !== "file") throw new SousError("wrong-file-type", `${path} exists and is not a regular file`);
        return { path, content: stat ? await host.tryReadFile(path) : undefined, mode: stat?.mode };
      };
      const [sourcesState, otherSources, key, otherKey, leftovers] = await Promise.all([state(sources), state(other), state(keys.key), state(keys.other), findLeftovers(host, sources, other, keys.key, keys.other)]);
      if (action === "add" && sourcesState.content?.toString("utf8") !== sourcesContent(properties, properties.key !== undefined ? keys.key : undefined)) await loadDiffLibrary();
      return { sources: sourcesState, otherSources, key, otherKey, ...(leftovers.length > 0 ? { leftovers } : {}) };
    },
    plan(current, properties, action): Plan {
      const changes: Change[] = [];
      const gone = (file: FileState, property: string) => {
        if (file.content !== undefined) changes.push({ property, from: file.path, to: undefined });
      };
      if (action === "remove") {
        gone(current.sources, "sources");
        gone(current.otherSources, "sources");
        gone(current.key, "key");
        gone(current.otherKey, "key");
        return { changes: [...changes, ...leftoverChange(current)] };
      }
      const key = keyBytes(properties);
      const text = Buffer.from(sourcesContent(properties, key ? current.key.path : undefined), "utf8");
      let diff: Plan["diff"];
      if (current.sources.content === undefined || !current.sources.content.equals(text) || current.sources.mode !== 0o644) {
        changes.push({ property: "sources", from: describe(current.sources.content), to: describe(text) });
        if (!current.sources.content?.equals(text)) diff = { property: "sources", text: contentDiff(current.sources.path, current.sources.content, text) };
      }
      gone(current.otherSources, "sources");
      if (key && (current.key.content === undefined || !current.key.content.equals(key) || current.key.mode !== 0o644)) {
        changes.push({ property: "key", from: describe(current.key.content), to: `${describe(key)} in ${current.key.path}` });
      }
      if (!key) gone(current.key, "key");
      gone(current.otherKey, "key");
      changes.push(...leftoverChange(current));
      return diff ? { changes, diff } : { changes };
    },
    async apply({ host }, plan, properties, action, current) {
      await removeLeftovers(host, plan, current);
      // Leftovers alone: the source is right, and its lists need no refresh.
      if (plan.changes.every((change) => change.property === "leftovers")) return;
      if (action === "remove") {
        for (const file of [current.sources, current.otherSources, current.key, current.otherKey]) if (file.content !== undefined) await host.remove(file.path);
        if (properties.updateCache) await run(host, aptGet("update", []), { env: { ...APT_ENV } });
        return;
      }
      const key = keyBytes(properties);
      if (key) {
        await host.mkdir(KEYRINGS_DIR, { recursive: true, mode: 0o755 });
        await host.writeFileAtomic(current.key.path, key, { mode: 0o644, uid: 0, gid: 0 });
      } else if (current.key.content !== undefined) await host.remove(current.key.path);
      if (current.otherKey.content !== undefined) await host.remove(current.otherKey.path);
      await host.mkdir(SOURCES_DIR, { recursive: true, mode: 0o755 });
      await host.writeFileAtomic(current.sources.path, sourcesContent(properties, key ? current.key.path : undefined), { mode: 0o644, uid: 0, gid: 0 });
      if (current.otherSources.content !== undefined) await host.remove(current.otherSources.path);
      if (properties.updateCache) {
        // Only this source: its lists become current without fetching every other repository.
        const only = ["-o", `Dir::Etc::SourceList=${current.sources.path}`, "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0"];
        await run(host, aptGet("update", [], only), { env: { ...APT_ENV } });
      }
    },
  },
});
