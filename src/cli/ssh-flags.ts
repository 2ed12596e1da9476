// The SSH flags of every command that reaches SSH targets, in a module of their own so the
// command table can add them without loading any SSH code.
import type { Command } from "commander";

/** Adds the SSH connection options to a command. */
export function addSshOptions(command: Command): Command {
  return command
    .option("-k, --identity <file>", "SSH private key (default: the SSH agent, then ~/.ssh/id_*)")
    .option("--known-hosts <file>", "known_hosts file to check host keys against (default: ~/.ssh/known_hosts)")
    .option("--accept-new-host-keys", "record keys of hosts not yet known (a changed key is always refused)")
    .option("--sudo", "run everything through sudo (for a non-root SSH user)")
    .option("--connect-timeout <seconds>", "give up connecting to a host after this long (default 15)")
    .option("--command-timeout <seconds>", "kill any remote command or file operation that runs longer (default: no limit)");
}
