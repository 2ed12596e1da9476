// Request signing shared by the client (signs) and the server (verifies). A signature covers
// the method, the path with its query, the SHA-256 of the body, a timestamp, the client's name
// and a random request id, so a captured request cannot be replayed with another body, path or
// identity, nor after the clock-skew window, nor (the server remembers each id for that window)
// as it was within it.
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, randomBytes, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";

/** Version tag of the string that is signed; part of it, so a future scheme cannot be confused with this one. */
export const SIGNING_VERSION = "sous-v2";

/** Header names of a signed request. */
export const SIGNATURE_HEADERS = {
  client: "x-sous-client",
  timestamp: "x-sous-timestamp",
  contentSha256: "x-sous-content-sha256",
  signature: "x-sous-signature",
  requestId: "x-sous-request-id",
} as const;

/** What a request id looks like: 16 to 64 characters of base64url (the client sends 22, from 16 random bytes). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** A fresh random request id. */
export function newRequestId(): string {
  return randomBytes(16).toString("base64url");
}

/** What a signature covers. */
export interface SignedParts {
  method: string;
  /** Path and query exactly as sent, e.g. `/api/v1/orgs/acme/search/node?q=role%3Aweb`. */
  path: string;
  contentSha256: string;
  /** ISO 8601 time of signing. */
  timestamp: string;
  client: string;
  /** Random id of this one request (`newRequestId`); the server accepts each id once. */
  requestId: string;
}

/** Hex SHA-256 of a body (of nothing for an empty body). */
export function sha256Hex(body: Buffer | string | undefined): string {
  return hash("sha256", body ?? "", "hex");
}

/** The exact text that is signed. */
export function stringToSign(parts: SignedParts): string {
  return [SIGNING_VERSION, parts.method.toUpperCase(), parts.path, parts.contentSha256, parts.timestamp, parts.client, parts.requestId].join("\n");
}

/** A new Ed25519 key pair as PEM (SPKI public, PKCS#8 private). */
export function generateKeyPair(): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/** The public key (PEM) that belongs to a private key. */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "pem" }).toString();
}

function digestFor(key: KeyObject): string | null {
  // Ed25519 signs the message itself; RSA signs a SHA-256 digest of it.
  return key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";
}

/** Checks that a PEM is a usable public key (Ed25519 or RSA of at least 2048 bits); returns a problem or undefined. */
export function publicKeyProblem(pem: unknown): string | undefined {
  if (typeof pem !== "string" || !pem.includes("PUBLIC KEY")) return "public_key must be a PEM-encoded public key";
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType === "ed25519") return undefined;
    if (key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return undefined;
    return `public_key must be Ed25519 or RSA (2048 bits or more), not ${key.asymmetricKeyType}`;
  } catch (error) {
    return `public_key is not a valid PEM public key: ${(error as Error).message}`;
  }
}

/** The headers that sign a request. */
export function signRequest(options: { method: string; path: string; body?: Buffer | string; client: string; privateKey: string | KeyObject; now?: Date; requestId?: string }): Record<string, string> {
  const key = typeof options.privateKey === "string" ? createPrivateKey(options.privateKey) : options.privateKey;
  const parts: SignedParts = {
    method: options.method,
    path: options.path,
    contentSha256: sha256Hex(options.body),
    timestamp: (options.now ?? new Date()).toISOString(),
    client: options.client,
    requestId: options.requestId ?? newRequestId(),
  };
  const signature = sign(digestFor(key), Buffer.from(stringToSign(parts)), key).toString("base64");
  return {
    [SIGNATURE_HEADERS.client]: parts.client,
    [SIGNATURE_HEADERS.timestamp]: parts.timestamp,
    [SIGNATURE_HEADERS.contentSha256]: parts.contentSha256,
    [SIGNATURE_HEADERS.signature]: signature,
    [SIGNATURE_HEADERS.requestId]: parts.requestId,
  };
}

const publicKeys = new Map<string, KeyObject>();

/** Parsing a PEM costs more than verifying: keep the parsed keys of recent clients. */
function cachedPublicKey(pem: string): KeyObject {
  let key = publicKeys.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    if (publicKeys.size >= 10_000) publicKeys.clear();
    publicKeys.set(pem, key);
  }
  return key;
}

/** True when `signature` (base64) is `publicKey`'s signature of these parts. */
export function verifyRequest(publicKeyPem: string, parts: SignedParts, signature: string): boolean {
  try {
    const key = cachedPublicKey(publicKeyPem);
    return verify(digestFor(key), Buffer.from(stringToSign(parts)), key, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}
