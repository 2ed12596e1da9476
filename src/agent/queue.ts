/**
 * The agent's report queue: every report is written here first (atomically, 0600 in a 0700
 * folder) and removed only once the server acknowledged it, so a report survives a server
 * that is down, a connection cut midway and an agent that dies. Reports go out oldest first;
 * the server stores a run id once, so one sent twice (its answer lost) is harmless.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SousApiError, type SousClient } from "../client/api.js";
import type { RunReportBody } from "../protocol/reports.js";

/** What one flush of the queue did. */
export interface FlushResult {
  sent: number;
  /** Reports the server refused (4xx): moved to queue/rejected with the reason. */
  rejected: number;
  /** Reports still waiting (the server could not be reached or failed). */
  left: number;
  /** Why the flush stopped early. */
  error?: string;
}

/** A queue of reports in a folder. */
export class ReportQueue {
  constructor(readonly dir: string) {}

  private ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Adds a report; the file name orders reports by the time they were queued. */
  add(report: RunReportBody): string {
    this.ensure();
    // Zero-padded milliseconds, then a sequence for reports queued within the same one.
    const name = `${String(Date.now()).padStart(15, "0")}-${report.id}.json`;
    const temp = join(this.dir, `.${name}.tmp`);
    writeFileSync(temp, JSON.stringify(report), { mode: 0o600 });
    renameSync(temp, join(this.dir, name));
    return name;
  }

  /** The queued report files, oldest first. */
  pending(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((name) => name.endsWith(".json") && !name.startsWith("."))
        .sort();
    } catch {
      return [];
    }
  }

  /** Sends queued reports in order until one cannot be sent; `first` is sent as queued now (not "queued": true). */
  async flush(client: SousClient, first?: string): Promise<FlushResult> {
    const result: FlushResult = { sent: 0, rejected: 0, left: 0 };
    const names = this.pending();
    for (const [index, name] of names.entries()) {
      const file = join(this.dir, name);
      let report: RunReportBody;
      try {
        report = JSON.parse(readFileSync(file, "utf8")) as RunReportBody;
      } catch {
        // A damaged file cannot be sent; keep it aside for a person to look at.
        this.reject(name, "the queued file is not valid JSON");
        result.rejected++;
        continue;
      }
      try {
        await client.postReport({ ...report, queued: name !== first });
        rmSync(file, { force: true });
        result.sent++;
      } catch (error) {
        const status = error instanceof SousApiError ? error.status : 0;
        if (status >= 400 && status < 500 && status !== 401 && status !== 404 && status !== 408 && status !== 429) {
          this.reject(name, (error as Error).message);
          result.rejected++;
          continue;
        }
        result.left = names.length - index;
        result.error = (error as Error).message;
        return result;
      }
    }
    return result;
  }

  private reject(name: string, reason: string): void {
    const rejected = join(this.dir, "rejected");
    mkdirSync(rejected, { recursive: true, mode: 0o700 });
    renameSync(join(this.dir, name), join(rejected, name));
    writeFileSync(join(rejected, `${name}.reason`), `${reason}\n`, { mode: 0o600 });
  }
}
