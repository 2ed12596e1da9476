/**
 * Registration of a node, run on the node itself: its key pair is made here, the public half
 * goes to the server (with a one-time bootstrap token, or signed by the organization's
 * validator key, Chef's older way), and the private half stays in a 0600 file.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SousClient } from "../client/api.js";
import { generateKeyPair } from "../protocol/signing.js";
import type { AgentConfig } from "./config.js";

/** How the node proves it may register. */
export type Registration = { token: string } | { validatorKeyFile: string };

/** Registers the node's new public key; the private key file is in place only once the server accepted it. */
export async function registerNode(config: AgentConfig, how: Registration): Promise<void> {
  const keys = generateKeyPair();
  mkdirSync(dirname(config.keyFile), { recursive: true, mode: 0o700 });
  const temp = `${config.keyFile}.${process.pid}.new`;
  writeFileSync(temp, keys.privateKey, { mode: 0o600 });
  try {
    const ca = config.trustedCertificate ? { ca: config.trustedCertificate } : {};
    if ("token" in how) {
      const client = new SousClient({ serverUrl: config.serverUrl, org: config.org, client: config.nodeName, ...ca });
      await client.registerClient({ name: config.nodeName, public_key: keys.publicKey, token: how.token });
    } else {
      const client = new SousClient({ serverUrl: config.serverUrl, org: config.org, client: `${config.org}-validator`, privateKeyFile: how.validatorKeyFile, ...ca });
      await client.registerClient({ name: config.nodeName, public_key: keys.publicKey });
    }
    renameSync(temp, config.keyFile);
  } finally {
    rmSync(temp, { force: true });
    // The validator key registers any name: it does not stay on the node (Chef's advice, done here).
    if ("validatorKeyFile" in how) rmSync(how.validatorKeyFile, { force: true });
  }
}
