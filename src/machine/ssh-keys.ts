/** SSH keys for disposable machines: one host key and one client key per machine set. */
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SousError } from "../core/errors.js";

/**
 * Makes a host key (`host_key`) and a client key (`client_key`, authorized in `authorized_keys`)
 * in `dir`, ed25519 without passphrase; returns the host key's public line (`ssh-ed25519 AAAA...`).
 */
export function makeSshKeys(dir: string, comment: string): { hostKey: string; keyFile: string } {
  for (const name of ["host_key", "client_key"]) {
    const result = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", join(dir, name)]);
    if (result.status !== 0) throw new SousError("ssh-keygen", `ssh-keygen failed: ${result.stderr}`);
  }
  copyFileSync(join(dir, "client_key.pub"), join(dir, "authorized_keys"));
  return { hostKey: readFileSync(join(dir, "host_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" "), keyFile: join(dir, "client_key") };
}

