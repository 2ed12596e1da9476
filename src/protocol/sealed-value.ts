// The wire form of an encrypted data bag value. The client seals and opens values (only it and
// the nodes hold the secret); the server only recognises them, to index a sealed field as present
// without its ciphertext.

/** Format tag stored with each sealed value. */
export const ENCRYPTION_VERSION = "sous-aes-256-gcm-1";

/** One sealed value as stored on the server. */
export interface SealedValue {
  encrypted_data: string;
  iv: string;
  auth_tag: string;
  cipher: "aes-256-gcm";
  version: typeof ENCRYPTION_VERSION;
}

/** True when a value is one sealed by the client (src/client/encrypted-data-bag.ts `encryptItem`). */
export function isSealedValue(value: unknown): value is SealedValue {
  return typeof value === "object" && value !== null && (value as SealedValue).version === ENCRYPTION_VERSION && typeof (value as SealedValue).encrypted_data === "string";
}
