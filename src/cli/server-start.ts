// `sous server`: runs the Sous server in this process until SIGINT or SIGTERM.
import { resolve } from "node:path";
import type { Command } from "commander";
import { SousError } from "../core/errors.js";
import { defaultAdminKeyFile, defaultDataDir, startSousServer } from "../run/server.js";
import { action, rootOf, writers, type Json } from "./connection.js";

/** A flag's number: at least 0 (`zero` allowed) or above 0. */
function positiveNumber(flag: string, value: unknown, zero: boolean): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || (!zero && number === 0)) throw new SousError("usage", `${flag} ${String(value)}: expected a number${zero ? " of at least 0" : " above 0"}`);
  return number;
}

/** `--listen HOST:PORT` (an IPv6 host in brackets) as the host and port to bind. */
function parseListen(listen: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) throw new SousError("bad_listen", `--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:8787`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(match[2]) };
}

/** Resolves at the first SIGINT or SIGTERM. */
function untilStopped(): Promise<void> {
  return new Promise<void>((resolveStop) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** Registers `sous server`. */
export function registerServerStart(program: Command): void {
  program
    .command("server")
    .description("Run the Sous server (embedded SQLite by default, PostgreSQL with --database)")
    .option("--database <url>", "postgres://user@host:port/db (default: SQLite in --data-dir)")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8787")
    .option("--data-dir <dir>", "where the SQLite store and the first administrator key live (default ~/.sous/server)")
    .option("--tls-cert <file>", "TLS certificate (PEM); plain HTTP without it, e.g. behind a proxy")
    .option("--tls-key <file>", "TLS private key (PEM)")
    .option("--clock-skew <seconds>", "accepted clock difference of signed requests", "300")
    .option("--log", "log every request (JSON lines on stdout)")
    .option("--no-search-cache", "run every search in full (by default a repeated search reuses its hits while the keys it depends on are unchanged; SQLite)")
    .option("--max-index-keys <n>", "most distinct search keys one object may have (a save past it is refused)", "20000")
    .option("--max-index-rows <n>", "most search values one object may have", "200000")
    .option("--report-retention <days>", "keep run reports this many days (0: forever)", "30")
    .option("--run-interval <seconds>", "the agents' run interval: sous node status shows a node as missing after two without a report", "1800")
    .action(
      action(async (command) => {
        const flags = command.opts() as Json;
        const { out } = writers(rootOf(command));
        const { host, port } = parseListen(String(flags.listen));
        const dataDir = resolve(String(flags.dataDir ?? defaultDataDir()));
        const started = Date.now();
        const server = await startSousServer({
          dataDir,
          host,
          port,
          ...(flags.database ? { database: String(flags.database) } : {}),
          ...(flags.tlsCert ? { tlsCertFile: String(flags.tlsCert) } : {}),
          ...(flags.tlsKey ? { tlsKeyFile: String(flags.tlsKey) } : {}),
          clockSkewMs: Number(flags.clockSkew) * 1000,
          logger: flags.log === true,
          searchCache: flags.searchCache !== false,
          indexLimits: { maxKeys: positiveNumber("--max-index-keys", flags.maxIndexKeys, false), maxRows: positiveNumber("--max-index-rows", flags.maxIndexRows, false) },
          reportRetentionDays: positiveNumber("--report-retention", flags.reportRetention, true),
          runIntervalSeconds: positiveNumber("--run-interval", flags.runInterval, false),
        });
        out(`Sous server listening on ${server.url} (store: ${server.store}; started in ${Date.now() - started} ms)\n`);
        if (server.adminKeyFile) {
          out(`First start: server administrator key written to ${server.adminKeyFile}\nNext: sous org create NAME --server-url ${server.url}${server.adminKeyFile === defaultAdminKeyFile() ? "" : ` --server-key ${server.adminKeyFile}`}\n`);
        }
        await untilStopped();
        await server.close();
        out("Sous server stopped\n");
      }),
    );
}
