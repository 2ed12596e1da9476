// `sous search`: Chef-style Lucene queries against the server, whole objects or partial search
// (-a, -k, --keys), printed as text, Sous's JSON or Chef's JSON.
import type { Command } from "commander";
import { action, clientFor, connectionOptions, flagsOf, print, type Json } from "./connection.js";
import { chefSearchBody, collectKey, partialKeysOf, partialSearchOutput, partialSearchText } from "./search-output.js";
import type { PartialSearchBody } from "./search-output.js";

/** Registers `sous search INDEX [QUERY]`. */
export function registerSearchCommand(program: Command): void {
  connectionOptions(
    program
      .command("search")
      .argument("<index>", "node, role, environment, client, or a data bag name")
      .argument("[query]", "Lucene query, e.g. 'role:web AND platform:debian'", "*:*")
      .description("Search the server (Chef-style Lucene queries)"),
    ["text", "json", "chef"],
  )
    .option("-a, --attribute <path...>", "return only these attributes, each named by its dotted path (\\. for a dot inside a key; partial search)")
    .option("-k, --key-path <name=path>", "return NAME = the value at PATH (dotted; repeat for more), e.g. -k ip=ipaddress -k kernel=kernel.release", collectKey, [])
    .option("--keys <json>", `return named attribute paths, Chef's form: '{"ip": ["ipaddress"], "kernel": ["kernel", "release"]}'`)
    .option("--rows <n>", "how many results", "1000")
    .option("--start <n>", "skip this many results", "0")
    .option("--sort <key>", "sort by a key, e.g. 'name desc' or 'cpu_total asc'; 'created' for the server's own order", "name")
    .option("-i, --id-only", "names only")
    .action(
      action(async (command, index: string, query: string) => {
        const flags = flagsOf(command);
        const client = await clientFor(command);
        const path = `${client.orgPath("search", index)}?${searchParams(flags, query)}`;
        // Chef's format is JSON in Chef's shape.
        const format = flags.format === "chef" ? "json" : flags.format;
        const keys = partialKeysOf(flags);
        if (keys) {
          const { body } = await client.request<PartialSearchBody>("POST", path, { body: keys });
          print(command, partialSearchOutput(body, flags.format === "chef" ? "chef" : "sous"), () => partialSearchText(body, keys), format);
          return;
        }
        const body = await client.get<SearchBody>(path);
        print(command, flags.idOnly ? body.rows.map(nameOf) : flags.format === "chef" ? chefSearchBody(index, body) : body, () => searchText(index, body, flags.idOnly === true), format);
      }),
    );
}

/** The answer of a search for whole objects. */
interface SearchBody {
  total: number;
  rows: Json[];
}

/** The query string: the query, the page and the order. */
function searchParams(flags: Json, query: string): URLSearchParams {
  const params = new URLSearchParams({ q: query, rows: String(flags.rows), start: String(flags.start) });
  // People read names in order; the API's default (creation order) is for programs paging through.
  if (flags.sort && flags.sort !== "created") params.set("sort", String(flags.sort));
  return params;
}

function nameOf(row: Json): string {
  return String(row.name ?? row.id ?? "");
}

/** The count, then a line per result: its name, and for nodes their environment and run list. */
function searchText(index: string, body: SearchBody, idOnly: boolean): string {
  return [`${body.total} result${body.total === 1 ? "" : "s"}`, ...body.rows.map((row) => (idOnly || index !== "node" ? nameOf(row) : `${nameOf(row)}  ${String(row.chef_environment)}  ${((row.run_list as string[]) ?? []).join(",")}`))].join("\n");
}
