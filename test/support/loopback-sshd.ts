/**
 * A real OpenSSH sshd on 127.0.0.1 at a port chosen at run time (never 22), for tests of what
 * clients record and check: host keys, known_hosts. It runs in a private mount namespace with
 * its own /run (sshd's privilege separation directory), its host keys and authorized keys in a
 * scratch directory, and every session's command forced to `true`: nothing runs on this
 * machine. The caller gives the scratch directory and stops it (in an `after` hook, so that it
 * stops also when a test fails).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** A running loopback sshd. */
export interface LoopbackSshd {
  port: number;
  /** A client key root may log in with. */
  clientKey: string;
  /** The server's public host keys by type (`ssh-ed25519 AAAA...`, without comment). */
  hostKeys: Record<"ed25519" | "ecdsa" | "rsa", string>;
  dir: string;
  stop(): void;
}

/** Why a loopback sshd cannot run here, or undefined when it can. */
export function loopbackSshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "a loopback sshd for tests needs root";
  for (const tool of ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keyscan", "/usr/bin/ssh-keygen", "/usr/bin/unshare"]) if (!existsSync(tool)) return `needs ${tool} (Debian packages openssh-server, openssh-client, util-linux)`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function publicKey(file: string): string {
  return readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

/** Starts an sshd on 127.0.0.1 with fresh host keys of each type, its files in `dir` (an empty scratch directory). */
export async function startLoopbackSshd(dir: string): Promise<LoopbackSshd> {
  const keygen = (type: string, file: string) => execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", join(dir, file)]);
  keygen("ed25519", "host_ed25519");
  keygen("ecdsa", "host_ecdsa");
  keygen("rsa", "host_rsa");
  keygen("ed25519", "client");
  writeFileSync(join(dir, "authorized_keys"), `${publicKey(join(dir, "client"))}\n`);
  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      ...["host_ed25519", "host_ecdsa", "host_rsa"].map((key) => `HostKey ${join(dir, key)}`),
      "PidFile none",
      "UsePAM no",
      "StrictModes no",
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "ForceCommand /bin/true",
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", 'mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd -D -e -f "$1"', "sshd", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the loopback sshd did not start within 10 s: ${stderr}`)), 10_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/Server listening on 127\.0\.0\.1 port/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the loopback sshd exited (${code}): ${stderr}`));
    });
  });
  const stop = () => {
    if (child.exitCode === null && child.pid) child.kill("SIGTERM");
  };
  return {
    port,
    dir,
    clientKey: join(dir, "client"),
    hostKeys: { ed25519: publicKey(join(dir, "host_ed25519")), ecdsa: publicKey(join(dir, "host_ecdsa")), rsa: publicKey(join(dir, "host_rsa")) },
    stop,
  };
}
