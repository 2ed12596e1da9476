// `sous node`: the shared collection verbs, a summary and a merged attribute view for `show`,
// and `run-list add|remove|set`.
import type { Command } from "commander";
import { action, clientFor, connectionOptions, print, type Json } from "./connection.js";
import { registerCollection, scalar, type CollectionKind } from "./collection-commands.js";

/** `sous node show`: name, environment, run list, platform, address and the last run. */
function nodeSummary(node: Json): string {
  const auto = (node.automatic ?? {}) as Json;
  const lines = [
    `Node Name:   ${String(node.name)}`,
    `Environment: ${String(node.chef_environment)}`,
    `Run List:    ${((node.run_list as string[]) ?? []).join(", ")}`,
    `Platform:    ${scalar(auto.platform ?? "")} ${scalar(auto.platform_version ?? "")}`.trimEnd(),
    `IP:          ${scalar(auto.ipaddress ?? "")}`,
  ];
  const run = node.last_run as Json | undefined;
  if (run) lines.push(`Last run:    ${scalar(run.status ?? "")} ${scalar(run.end ?? run.start ?? "")} (${scalar(run.updated_resources ?? 0)} updated)`);
  return lines.join("\n");
}

/** The attributes a recipe sees: default, normal, override and automatic merged in that order of precedence. */
function mergedNodeView(node: Json): Json {
  const merge = (target: Json, source: unknown): void => {
    if (typeof source !== "object" || source === null || Array.isArray(source)) return;
    for (const [key, value] of Object.entries(source)) {
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        const base = typeof target[key] === "object" && target[key] !== null && !Array.isArray(target[key]) ? (target[key] as Json) : {};
        target[key] = base;
        merge(base, value);
      } else target[key] = value;
    }
  };
  const view: Json = {};
  for (const level of [node.default, node.normal, node.override, node.automatic]) merge(view, level);
  return { ...view, name: node.name, chef_environment: node.chef_environment, run_list: node.run_list };
}

const nodeKind: CollectionKind = {
  name: "node",
  path: "nodes",
  createFields: (flags) => (flags.environment ? { chef_environment: flags.environment } : {}),
  attributeView: mergedNodeView,
  summary: nodeSummary,
};

/** Registers `sous node` with its verbs; returns the group (the fleet commands join it). */
export function registerNodeCommands(program: Command): Command {
  const node = registerCollection(program, nodeKind);
  registerRunList(node);
  return node;
}

function registerRunList(node: Command): void {
  const runList = node.command("run-list").description("Change a node's run list");
  const change = (verb: "add" | "remove" | "set", apply: (current: string[], items: string[]) => string[]) =>
    connectionOptions(runList.command(verb).argument("<node>").argument("<items...>", "role[x] or recipe[y], separated by spaces or commas").description(`${verb[0]!.toUpperCase()}${verb.slice(1)} run-list items`)).action(
      action(async (command, name: string, items: string[]) => {
        const client = await clientFor(command);
        const normalized = items.flatMap((item) => item.split(",")).map((item) => item.trim()).filter(Boolean).map((item) => (item.includes("[") ? item : `recipe[${item}]`));
        const current = await client.getNode(name);
        const next = { ...current.body, run_list: apply(current.body.run_list ?? [], normalized) };
        const { body } = await client.putObject("nodes", name, next, current.etag);
        print(command, body, () => `${name}: ${(body.run_list ?? []).join(", ") || "(empty run list)"}`);
      }),
    );
  change("add", (current, items) => [...current, ...items.filter((item) => !current.includes(item))]);
  change("remove", (current, items) => current.filter((item) => !items.includes(item)));
  change("set", (_current, items) => items);
}
