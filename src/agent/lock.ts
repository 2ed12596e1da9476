/**
 * The agent's run lock: an flock(2) on a file, held by this process's open file description.
 * util-linux's `flock` takes the lock on a descriptor this process passes it and exits; the
 * lock stays with the description, which only this process holds (Node opens files
 * close-on-exec, so commands a run starts never inherit it). The kernel drops the lock when
 * the process ends in any way, so a crashed or killed run leaves no stale lock behind.
 */
import { spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SousError } from "../core/errors.js";

/** A held run lock. */
export interface RunLock {
  /** Releases the lock (closing the descriptor); idempotent. */
  release(): void;
}

/** Another run holds the lock. */
export class LockHeldError extends SousError {
  constructor(
    readonly holderPid: number | undefined,
    readonly file: string,
    waitedSeconds: number,
  ) {
    super("run_locked", `another run holds the lock ${file}${holderPid ? ` (PID ${holderPid})` : ""}${waitedSeconds > 0 ? `; waited ${waitedSeconds} s` : ""}; try again later, or pass --lock-timeout SECONDS to wait`);
    this.name = "LockHeldError";
  }
}

/** The PID written in the lock file by the run holding it, if any. */
export function lockHolder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the run lock, waiting up to `timeoutSeconds` (0: not at all); throws LockHeldError
 * naming the holder's PID when another run keeps it.
 */
export function acquireRunLock(file: string, timeoutSeconds = 0): RunLock {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, "a+", 0o600);
  // fd 3 in flock's process is this process's descriptor: the same open file description.
  const wait = timeoutSeconds > 0 ? ["--timeout", String(timeoutSeconds)] : ["--nonblock"];
  const result = spawnSync("flock", ["--exclusive", ...wait, "--conflict-exit-code", "75", "3"], { stdio: ["ignore", "ignore", "pipe", fd], encoding: "utf8" });
  if (result.error || result.status !== 0) {
    closeSync(fd);
    if (result.status === 75 || result.status === 1) throw new LockHeldError(lockHolder(file), file, timeoutSeconds);
    throw new SousError("lock_failed", `cannot lock ${file}: ${result.error?.message ?? result.stderr.trim() ?? `flock exited ${result.status}`}`);
  }
  // Who holds it, for the run that finds it taken (read without the lock: it is only a hint).
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        ftruncateSync(fd, 0);
      } catch {
        // Nothing to do: closing below drops the lock anyway.
      }
      closeSync(fd);
    },
  };
}
