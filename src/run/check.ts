/** The repository check behind `sous cookbook check`: the TypeScript type checker over every recipe, attribute file, role, environment and app. */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeTypeRoots, SOUS_TYPE_PATHS, writeMachineTsconfig } from "../cookbook/editor-config.js";
import { UsageError } from "../core/errors.js";
import { importOptional } from "../core/optional.js";

const here = fileURLToPath(import.meta.url);
/** Sous's own installation: type errors inside it are not the repository's to fix. */
const sousRoot = resolve(dirname(here), "..", "..");

function collect(dir: string, out: string[]): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    // templates/ and files/ hold what recipes install (a .ts file there is content, not code).
    if (entry.isDirectory() && !(entry.name === "templates" || entry.name === "files")) collect(path, out);
    else if (/\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** One type error. */
export interface TypeProblem {
  /** The absolute path of the file, whatever the current directory (as every location Sous prints). */
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Type-checks every TypeScript file of the repository; returns the problems found. */
export async function checkRepository(root: string): Promise<{ files: number; problems: TypeProblem[] }> {
  if (!existsSync(root)) throw new UsageError(`repository ${root} does not exist`);
  const ts = (await importOptional(["typescript"], "sous cookbook check", () => import("typescript"))).default;
  const files = [...collect(join(root, "cookbooks"), []), ...collect(join(root, "roles"), []), ...collect(join(root, "environments"), []), ...collect(join(root, "apps"), [])];
  const config = join(root, "sous.config.ts");
  if (ts.sys.fileExists(config)) files.push(config);
  // Written first, so that recipes see the custom resources their cookbooks define as typed functions.
  const { openRepository } = await import("../cookbook/repository.js");
  const { writeResourceTypes } = await import("../cookbook/resource-types.js");
  const repository = openRepository(root);
  files.push(writeResourceTypes(repository));
  const { writeAttributeTypes } = await import("../cookbook/attribute-types.js");
  files.push(writeAttributeTypes(repository));
  // The editor's view of the repository (tsconfig.json extends it) follows the Sous that checks it.
  writeMachineTsconfig(root);
  const typeRoots = nodeTypeRoots();
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    ...(typeRoots.length ? { typeRoots, types: ["node"] } : { types: [] }),
    paths: SOUS_TYPE_PATHS,
  });
  const problems: TypeProblem[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    if (diagnostic.file && resolve(diagnostic.file.fileName).startsWith(sousRoot + "/") && !resolve(diagnostic.file.fileName).startsWith(resolve(root) + "/")) continue;
    if (diagnostic.file && diagnostic.start !== undefined) {
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      problems.push({ file: resolve(diagnostic.file.fileName), line: line + 1, column: character + 1, message });
    } else problems.push({ file: "(project)", line: 0, column: 0, message });
  }
  return { files: files.length, problems };
}
