/**
 * The deploy lock: a folder made by mkdir(2) on the primary host (atomic: of two deploys that
 * try at once exactly one succeeds), holding who took it, when, for which release and why.
 * Only its holder frees it: a deploy proves it with a random token written inside; a second
 * deploy that fails to take the lock never touches it. Freed by rename(2) first, so a lock is
 * either whole or gone.
 */
import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { posix } from "node:path";
import { SousError } from "../core/errors.js";
import type { Host } from "../host/host.js";
import type { Layout } from "./layout.js";

/** Who holds a lock. */
export interface LockHolder {
  /** `user@workstation`. */
  by: string;
  workstation: string;
  pid: number;
  /** ISO time it was taken. */
  since: string;
  kind: "deploy" | "rollback" | "manual";
  app: string;
  release?: string;
  message?: string;
}

/** A lock this process holds. */
export interface HeldLock {
  host: Host;
  layout: Layout;
  holder: LockHolder;
  token: string;
}

/** `user@workstation` of this process (SOUS_DEPLOY_USER overrides the user name). */
export function whoAmI(): string {
  let user = process.env.SOUS_DEPLOY_USER;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = String(process.getuid?.() ?? "unknown");
    }
  }
  return `${user}@${hostname()}`;
}

/** Describes a holder for messages: who, since when, what for. */
export function describeHolder(holder: LockHolder | undefined): string {
  if (!holder) return "someone (the lock is being taken, or was left without holder information)";
  const what = holder.kind === "manual" ? "a manual lock" : `a ${holder.kind}${holder.release ? ` of release ${holder.release}` : ""}`;
  return `${holder.by} (pid ${holder.pid}) since ${holder.since}: ${what}${holder.message ? `, "${holder.message}"` : ""}`;
}

/**
 * What a person refused by a lock can do: a stale lock (its process known gone) is freed by
 * `lock release`; a deploy's lock from another workstation cannot be checked from here, so the
 * message says how to free it once its holder is known to be gone.
 */
function lockAdvice(holder: LockHolder | undefined, stale: boolean): string {
  const app = holder?.app ?? "APP";
  if (stale) return ` — that process is gone (stale lock): free it with \`sous deploy lock release ${app}\``;
  if (!holder) return ` — if nobody is deploying, free it with \`sous deploy lock release ${app} --force\``;
  if (holder.kind === "manual") return ` — ask ${holder.by} to run \`sous deploy lock release ${app}\`, or free it with \`sous deploy lock release ${app} --force\``;
  if (holder.workstation === hostname()) return ` — that ${holder.kind} is still running here (pid ${holder.pid}): wait for it to finish`;
  return ` — if that ${holder.kind} is no longer running (Sous can tell only on ${holder.workstation}, where it ran as pid ${holder.pid}), free it with \`sous deploy lock release ${app} --force\``;
}

/** Why the lock could not be taken. */
export class LockedError extends SousError {
  constructor(
    readonly holder: LockHolder | undefined,
    host: string,
    readonly stale: boolean,
  ) {
    super("locked", `the application is locked on ${host} by ${describeHolder(holder)}${lockAdvice(holder, stale)}`);
    this.name = "LockedError";
  }
}

/** Reads the holder of a lock, or undefined when there is no lock; `held` says whether the folder exists at all. */
export async function lockStatus(host: Host, layout: Layout): Promise<{ held: boolean; holder?: LockHolder; stale: boolean }> {
  const stat = await host.tryLstat(layout.lock);
  if (!stat) return { held: false, stale: false };
  const raw = await host.tryReadFile(posix.join(layout.lock, "holder.json"));
  let holder: LockHolder | undefined;
  try {
    holder = raw ? (JSON.parse(raw.toString("utf8")) as LockHolder) : undefined;
  } catch {
    holder = undefined;
  }
  return { held: true, ...(holder ? { holder } : {}), stale: holder ? isStale(holder) : false };
}

/** A deploy's lock whose process ran on this workstation and is gone. */
export function isStale(holder: LockHolder): boolean {
  if (holder.kind === "manual" || holder.workstation !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

// $1 the lock folder, $2 the holder JSON, $3 the token. mkdir is the atomic step; the holder is
// written through a temporary file so a reader sees all of it or none.
const ACQUIRE = `set -e
mkdir -p -- "$(dirname -- "$1")"
mkdir -m 700 -- "$1" 2>/dev/null || exit 75
printf '%s' "$3" > "$1/token"
printf '%s\\n' "$2" > "$1/holder.json.tmp"
mv -f -- "$1/holder.json.tmp" "$1/holder.json"`;

// $1 the lock folder, $2 the token ("" with --force). The rename frees it in one step.
const RELEASE = `set -e
[ -d "$1" ] || exit 0
if [ -n "$2" ]; then [ "$(cat -- "$1/token" 2>/dev/null)" = "$2" ] || exit 76; fi
gone="$1.released-$$"
mv -T -- "$1" "$gone"
rm -rf -- "$gone"`;

/** A lock about to be taken: its holder (this process) and the token that proves it; `args` are the lock script's (folder, holder JSON, token). */
export interface LockRequest {
  holder: LockHolder;
  token: string;
  args: [string, string, string];
}

/** Prepares taking the lock of `layout` for this process (the check phase takes it in its own script on the lock host). */
export function lockRequest(layout: Layout, holder: Omit<LockHolder, "by" | "workstation" | "pid" | "since">): LockRequest {
  const full: LockHolder = { by: whoAmI(), workstation: hostname(), pid: process.pid, since: new Date().toISOString(), ...holder };
  const token = randomBytes(16).toString("hex");
  return { holder: full, token, args: [layout.lock, JSON.stringify(full), token] };
}

/** The refusal of a lock script that found the lock held: its `locked<TAB>holder JSON` line. */
export function lockedError(output: string, host: string): LockedError {
  const line = output.split("\n").find((l) => l.startsWith("locked\t"));
  let holder: LockHolder | undefined;
  try {
    holder = line && line.length > 7 ? (JSON.parse(line.slice(7)) as LockHolder) : undefined;
  } catch {
    holder = undefined;
  }
  return new LockedError(holder, host, holder ? isStale(holder) : false);
}

/** Records in a held lock which release it is for (known only after the check that took it). */
export async function relabelLock(lock: HeldLock, release: string): Promise<void> {
  lock.holder = { ...lock.holder, release };
  await lock.host.writeFileAtomic(posix.join(lock.layout.lock, "holder.json"), `${JSON.stringify(lock.holder)}\n`);
}

/** Takes the lock or throws LockedError naming the holder. */
export async function acquireLock(host: Host, layout: Layout, holder: Omit<LockHolder, "by" | "workstation" | "pid" | "since">): Promise<HeldLock> {
  const { holder: full, token, args } = lockRequest(layout, holder);
  const result = await host.exec(["sh", "-c", ACQUIRE, "sh", ...args], { resident: true });
  if (result.exitCode === 75) {
    const status = await lockStatus(host, layout);
    throw new LockedError(status.holder, host.name, status.stale);
  }
  if (result.exitCode !== 0) throw new SousError("lock-failed", `cannot take the lock ${layout.lock} on ${host.name}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`);
  return { host, layout, holder: full, token };
}

/** Frees a lock this process holds; a lock taken over by someone else meanwhile (forced) is left alone. Returns whether it freed it. */
export async function releaseLock(lock: HeldLock): Promise<boolean> {
  const result = await lock.host.exec(["sh", "-c", RELEASE, "sh", lock.layout.lock, lock.token], { resident: true });
  if (result.exitCode === 76) return false;
  if (result.exitCode !== 0) throw new SousError("unlock-failed", `cannot free the lock ${lock.layout.lock} on ${lock.host.name}: ${result.stderr.trim()}`);
  return true;
}

/**
 * `sous deploy lock release`: frees a manual lock of this user, or a stale lock of a deploy from
 * this workstation whose process is gone; anything else only with `force`. Returns the holder freed.
 */
export async function releaseLockByHand(host: Host, layout: Layout, force: boolean): Promise<LockHolder | undefined | "none"> {
  const status = await lockStatus(host, layout);
  if (!status.held) return "none";
  const mine = status.holder?.kind === "manual" && status.holder.by === whoAmI();
  if (!force && !mine && !status.stale) {
    throw new SousError("locked", `the lock on ${host.name} is held by ${describeHolder(status.holder)}; it is not your manual lock and its process is not known to be gone: pass --force to free it anyway`);
  }
  const result = await host.exec(["sh", "-c", RELEASE, "sh", layout.lock, ""]);
  if (result.exitCode !== 0) throw new SousError("unlock-failed", `cannot free the lock ${layout.lock} on ${host.name}: ${result.stderr.trim()}`);
  return status.holder;
}
