/**
 * The host side of each phase: one POSIX shell script per phase and host, so a phase costs one
 * round trip whatever it does (in the host's resident shell: no new SSH session per step). The scripts are constants; every value (paths, URLs, revisions,
 * JSON) reaches them as positional arguments of an argv command, never spliced into the text.
 * A script that fails exits non-zero with its reason on stderr.
 */
import type { ExecResult, Host } from "../host/host.js";
import { outputTail } from "./hooks.js";

/** A script of this module that failed on a host: its `sous: ` lines as the reason, then whatever else it printed. */
export class RemoteStepError extends Error {
  constructor(
    what: string,
    readonly result: ExecResult,
  ) {
    const lines = result.stderr.trimEnd().split("\n");
    const reasons = lines.filter((l) => l.startsWith("sous: ")).map((l) => l.slice(6));
    const rest = lines.filter((l) => l && !l.startsWith("sous: ")).join("\n");
    const head = reasons.length ? reasons.join("; ") : result.timedOut ? "timed out" : `exit code ${result.exitCode}`;
    super(`${what ? `${what}: ` : ""}${head}${rest || result.stdout.trim() ? `\n${outputTail({ stdout: reasons.length ? "" : result.stdout, stderr: rest })}` : ""}`);
    this.name = "RemoteStepError";
  }
}

/** Runs one of this module's scripts with its arguments; throws RemoteStepError on failure (its message starts with `what`, when given: a phase's failures are already named by the phase). */
export async function runScript(host: Host, what: string, script: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<string> {
  // In the host's resident shell when it has one: a new SSH session per step cost more than most steps.
  const result = await host.exec(["sh", "-c", script, "sous", ...args], options.timeoutMs ? { timeoutMs: options.timeoutMs } : { resident: true });
  if (result.exitCode !== 0) throw new RemoteStepError(what, result);
  return result.stdout;
}

// The state of the layout at $d (the end of CHECK too, after its arguments are shifted away).
// Shell built-ins only, but for readlink: a process per file read would cost more than the rest
// of the check (10 hosts with 5 releases each made 200 processes).
const STATE_OF_D = `printf 'current\\t%s\\n' "$(readlink -- "$d/current" 2>/dev/null)"
for r in "$d"/releases/*/; do
  [ -d "$r" ] || continue
  id=\${r%/}; id=\${id##*/}
  rev=; marker=
  [ -f "$r/REVISION" ] && { read -r rev < "$r/REVISION" || :; } 2>/dev/null
  [ -f "$r/.sous-release" ] && { IFS= read -r marker < "$r/.sous-release" || :; } 2>/dev/null
  case "$rev$marker" in *"$tab"*) rev=; marker=;; esac
  printf 'release\\t%s\\t%.64s\\t%s\\n' "$id" "$rev" "$marker"
done`;

/** The state of a layout: `current` and each release's id, REVISION and marker, one line each. $1 deployTo. */
export const STATE = `d="$1"; tab='\t'
${STATE_OF_D}`;

/**
 * The check phase: git present, deployTo's folders made and writable, free disk, the
 * repository reachable (when asked: always, or only when there is no mirror yet), linked files
 * present in shared/; then, on the lock host, the lock taken (mkdir(2): of two deploys exactly
 * one makes it; refused: exit 75 and a `locked` line with the holder's JSON); then the state.
 * $1 deployTo, $2 repository, $3 git check (none, new, always), $4 KiB needed, $5 lock folder
 * ("" for none), $6 holder JSON, $7 token, then the linked files.
 */
export const CHECK = `d="$1"; url="$2"; git_check="$3"; need="$4"; lock="$5"; holder="$6"; token="$7"; shift 7; tab='\t'
if [ "$git_check" != none ]; then command -v git >/dev/null 2>&1 || { echo "sous: git is not installed" >&2; exit 1; }; fi
{ [ -d "$d/releases" ] && [ -d "$d/shared" ]; } || mkdir -p -- "$d/releases" "$d/shared" || { echo "sous: cannot make $d/releases and $d/shared" >&2; exit 1; }
[ -w "$d" ] || { echo "sous: $d is not writable" >&2; exit 1; }
free=$(df -Pk -- "$d" 2>/dev/null | { read -r _; read -r _ _ _ avail _; echo "$avail"; })
case "$free" in ''|*[!0-9]*) free=;; esac
if [ -n "$free" ] && [ "$free" -lt "$need" ]; then echo "sous: only $((free / 1024)) MiB free under $d; the app needs $((need / 1024)) MiB (minFreeMiB)" >&2; exit 1; fi
if [ "$git_check" = always ] || { [ "$git_check" = new ] && [ ! -f "$d/repo/HEAD" ]; }; then
  GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND="ssh -o BatchMode=yes" timeout 60 git -c protocol.version=0 ls-remote -- "$url" HEAD >/dev/null || { echo "sous: cannot reach the repository $url" >&2; exit 1; }
fi
missing=""
for f in "$@"; do [ -e "$d/shared/$f" ] || missing="$missing $f"; done
[ -z "$missing" ] || { echo "sous: linked files missing in $d/shared:$missing (put them there first: they are kept across releases)" >&2; exit 1; }
if [ -n "$lock" ]; then
  if ! mkdir -m 700 -- "$lock" 2>/dev/null; then
    h=; { IFS= read -r h < "$lock/holder.json" || :; } 2>/dev/null
    printf 'locked\\t%s\\n' "$h"; exit 75
  fi
  printf '%s' "$token" > "$lock/token"
  printf '%s\\n' "$holder" > "$lock/holder.json.tmp"
  mv -f -- "$lock/holder.json.tmp" "$lock/holder.json"
fi
${STATE_OF_D}`;

/**
 * The update phase: the bare mirror cloned or fetched (never stale: fetched from the app's URL
 * every time, unless the revision is a full commit id the mirror already has), then the revision
 * resolved to a commit there. $1 mirror, $2 repository URL, $3 revision.
 *
 * In git's protocol version 0: the mirror takes every ref (`+refs/*:refs/*`), so version 2's
 * ref filtering saves nothing, and the ref list coming with the server's first answer saves
 * version 2's separate ls-refs round trip (10 hosts fetching at once: 190-230 ms -> 145-165 ms
 * from a git daemon here). Every git server speaks it.
 */
export const UPDATE = `m="$1"; url="$2"; rev="$3"
export GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND="ssh -o BatchMode=yes"
if [ -f "$m/HEAD" ]; then
  case "$rev" in
    *[!0-9a-f]*) have=;;
    ????????????????????????????????????????) git -C "$m" cat-file -e "$rev^{commit}" 2>/dev/null && have=1 || have=;;
    *) have=;;
  esac
  # The URL given each time (not the mirror's remote): a changed repository setting needs no extra step.
  [ -n "$have" ] || git -c protocol.version=0 -C "$m" fetch --prune --quiet --no-auto-maintenance -- "$url" '+refs/*:refs/*' || { echo "sous: fetching $url failed" >&2; exit 1; }
else
  rm -rf -- "$m" && git -c protocol.version=0 clone --mirror --quiet -- "$url" "$m" || { echo "sous: cloning $url failed" >&2; exit 1; }
fi
git -C "$m" rev-parse --verify --quiet "$rev^{commit}" || { echo "sous: no commit $rev in $url" >&2; exit 1; }`;

/** Whether the mirror has a commit. $1 mirror, $2 commit. */
export const HAS_COMMIT = `git -C "$1" cat-file -e "$2^{commit}" 2>/dev/null || { echo "sous: commit $2 is not in this host's mirror" >&2; exit 1; }`;

// Each `d:path` / `f:path` of $shared linked into $dir (what git put there replaced); a process only where one is needed.
const LINK_ITEMS = `for item in "$@"; do
  kind=\${item%%:*}; p=\${item#*:}
  if [ "$kind" = d ] && [ ! -d "$shared/$p" ]; then mkdir -p -- "$shared/$p"; fi
  case "$p" in */*) mkdir -p -- "$dir/\${p%/*}";; esac
  if [ -e "$dir/$p" ] || [ -L "$dir/$p" ]; then rm -rf -- "$dir/$p"; fi
  ln -s -- "$shared/$p" "$dir/$p"
done`;

/** The link phase alone (when hooks run between it and the release): $1 release, $2 shared, then the items. */
export const LINK = `set -e
dir="$1"; shared="$2"; shift 2
${LINK_ITEMS}`;

/**
 * The release phase: releases/<id> from a git archive of the commit, its REVISION and its
 * pending marker, then (when given) the shared files and folders linked in: each `d:path` /
 * `f:path` of shared/. $1 mirror, $2 commit, $3 release folder, $4 marker JSON, $5 shared, then the items.
 */
export const RELEASE = `set -e
m="$1"; sha="$2"; dir="$3"; marker="$4"; shared="$5"; shift 5
mkdir -- "$dir"
# git's status does not survive the pipe: a failed archive leaves a mark instead.
untar=ok
( git -C "$m" archive --format=tar "$sha" || : > "$dir/.sous-archive-failed" ) | tar -xf - -C "$dir" || untar=
if [ -e "$dir/.sous-archive-failed" ]; then echo "sous: git archive of $sha failed" >&2; exit 1; fi
[ -n "$untar" ] || { echo "sous: unpacking the release failed" >&2; exit 1; }
printf '%s\\n' "$sha" > "$dir/REVISION"
printf '%s\\n' "$marker" > "$dir/.sous-release"
${LINK_ITEMS}`;

/**
 * The switch: a new link beside `current`, renamed over it (rename(2): `mv -T`), so `current`
 * is always the old release or the new one; then, when given, a line appended to revisions.log
 * (a switch whose outcome is known at once) and releases' markers rewritten (each through a
 * temporary file and rename). $1 current, $2 the release folder ("" removes current), $3 log
 * file ("" for none), $4 log line, then pairs of marker file and marker JSON.
 */
export const SWITCH = `set -e
if [ -z "$2" ]; then rm -f -- "$1"
else
  # -fn: a link left by a switch killed before its rename is replaced (it is no current yet).
  ln -sfn -- "$2" "$1.sous-next"
  mv -fT -- "$1.sous-next" "$1"
fi
if [ -n "\${3-}" ]; then printf '%s\\n' "$4" >> "$3"; fi
if [ "$#" -gt 4 ]; then
  shift 4
  while [ "$#" -ge 2 ]; do
    if [ -f "$1" ]; then printf '%s\\n' "$2" > "$1.tmp"; mv -f -- "$1.tmp" "$1"; fi
    shift 2
  done
fi`;

/**
 * Bookkeeping at the end: a marker rewritten (when given), a line appended to revisions.log,
 * releases removed, and the mirror's housekeeping (git maintenance --auto, which the update's
 * fetch leaves out) started in the background, after the deploy rather than in its way, and
 * only when git's own default thresholds say there is work (more than 27 loose objects in
 * objects/17, that is about 6,700 in all, or more than 50 packs): counted by the shell, so the
 * usual deploy starts no git process for it.
 * $1 marker file ("" for none), $2 marker JSON, $3 log, $4 log line, $5 mirror ("" for none), then the folders to remove.
 */
export const FINISH = `set -e
if [ -n "$1" ]; then printf '%s\\n' "$2" > "$1.tmp"; mv -f -- "$1.tmp" "$1"; fi
printf '%s\\n' "$4" >> "$3"
m="$5"; shift 5
if [ "$#" -gt 0 ]; then rm -rf -- "$@"; fi
if [ -n "$m" ] && [ -f "$m/HEAD" ]; then
  set -- "$m"/objects/17/*; loose=$#; [ -e "$1" ] || loose=0
  set -- "$m"/objects/pack/*.pack; packs=$#; [ -e "$1" ] || packs=0
  if [ "$loose" -gt 27 ] || [ "$packs" -gt 50 ]; then (git -C "$m" maintenance run --auto --quiet </dev/null >/dev/null 2>&1 &); fi
fi`;
