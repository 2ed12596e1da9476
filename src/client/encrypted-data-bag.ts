// Encrypted data bag items: every value but `id` is sealed with AES-256-GCM under a key derived
// from a shared secret that only the CLI and the nodes hold; the server stores ciphertext.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ENCRYPTION_VERSION, isSealedValue, type SealedValue } from "../protocol/sealed-value.js";

/** A 32-byte key from a secret (file content with surrounding whitespace ignored). */
export function keyFromSecret(secret: string | Buffer): Buffer {
  const text = Buffer.isBuffer(secret) ? secret.toString("utf8") : secret;
  const trimmed = text.trim();
  if (trimmed.length < 16) throw new Error("the data bag secret is shorter than 16 characters; generate one with: openssl rand -base64 48 > secret");
  return createHash("sha256").update(trimmed).digest();
}

/** Reads a secret file and derives the key; the error names the file when it cannot be read. */
export function loadSecretFile(path: string): Buffer {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return keyFromSecret(content);
}

/** True when every value but `id` is sealed. */
export function isEncryptedItem(item: Record<string, unknown>): boolean {
  const entries = Object.entries(item).filter(([key]) => key !== "id");
  return entries.length > 0 && entries.every(([, value]) => isSealedValue(value));
}

/** Seals every value but `id`; the field name is authenticated too, so values cannot be swapped between fields. */
export function encryptItem(item: Record<string, unknown>, key: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(item)) {
    if (field === "id") {
      out.id = value;
      continue;
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(field));
    const data = Buffer.concat([cipher.update(JSON.stringify({ json_wrapper: value })), cipher.final()]);
    const sealed: SealedValue = { encrypted_data: data.toString("base64"), iv: iv.toString("base64"), auth_tag: cipher.getAuthTag().toString("base64"), cipher: "aes-256-gcm", version: ENCRYPTION_VERSION };
    out[field] = sealed;
  }
  return out;
}

/** Opens every sealed value; a wrong secret or altered data fails naming the field. */
export function decryptItem(item: Record<string, unknown>, key: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(item)) {
    if (!isSealedValue(value)) {
      out[field] = value;
      continue;
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(value.iv, "base64"));
      decipher.setAAD(Buffer.from(field));
      decipher.setAuthTag(Buffer.from(value.auth_tag, "base64"));
      const plain = Buffer.concat([decipher.update(Buffer.from(value.encrypted_data, "base64")), decipher.final()]);
      out[field] = (JSON.parse(plain.toString("utf8")) as { json_wrapper: unknown }).json_wrapper;
    } catch {
      throw new Error(`cannot decrypt field '${field}': wrong secret, or the item was altered`);
    }
  }
  return out;
}
