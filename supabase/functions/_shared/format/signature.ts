/**
 * Backup signatures: the writer of a backup signs the exact bytes of its `manifest.json` with
 * an Ed25519 key, and stores the raw 64-byte signature as `manifest.json.sig` beside it
 * (written before the manifest, so a complete backup always has it). The manifest lists every
 * object's key, size and sha256, so the signature covers every byte of the backup.
 *
 * Keys: the private half is PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the public half SPKI
 * PEM (`-----BEGIN PUBLIC KEY-----`), as `openssl genpkey -algorithm ed25519` writes them. A
 * public key may also be given as the one-line base64 body of that PEM (`MCowBQYDK2VwAyEA…`).
 * Stock check: `openssl pkeyutl -verify -pubin -inkey signing.pub -rawin -in manifest.json
 * -sigfile manifest.json.sig` (docs/format.md).
 * @module
 */

/** The signature's key inside a backup prefix. */
export const SIGNATURE_KEY = "manifest.json.sig";

const ALG = { name: "Ed25519" } as const;

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A copy of `u` WebCrypto accepts (it refuses views of a SharedArrayBuffer). */
function owned(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(u);
}

function pem(label: string, der: Uint8Array): string {
  const body = b64(der).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function pemBody(text: string, label: string): Uint8Array<ArrayBuffer> | null {
  const m = text.match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`));
  if (!m) return null;
  try {
    return unb64(m[1].replace(/\s+/g, ""));
  } catch {
    return null;
  }
}

/** A key that is not an Ed25519 key in the expected form; the message says what to pass. */
export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SigningKeyError";
  }
}

/** A new signing key pair: the private key (PKCS#8 PEM) and the public key (SPKI PEM, and its one-line form). */
export async function generateSigningKey(): Promise<{ privatePem: string; publicPem: string; publicKey: string }> {
  const pair = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { privatePem: pem("PRIVATE KEY", pkcs8), publicPem: pem("PUBLIC KEY", spki), publicKey: b64(spki) };
}

/** Whether a text holds a private signing key (PKCS#8 PEM). */
export function looksLikeSigningKey(text: string): boolean {
  return text.includes("-----BEGIN PRIVATE KEY-----");
}

/** Imports a private signing key from PKCS#8 PEM. */
export async function importSigningKey(text: string): Promise<CryptoKey> {
  const der = pemBody(text, "PRIVATE KEY");
  if (!der) throw new SigningKeyError("the signing key is not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----): use the .signing file 'lifeboat keygen' wrote");
  try {
    return await crypto.subtle.importKey("pkcs8", der, ALG, false, ["sign"]);
  } catch {
    throw new SigningKeyError("the signing key is not an Ed25519 private key: use the .signing file 'lifeboat keygen' wrote");
  }
}

/**
 * Parses a trusted public key: SPKI PEM, or its one-line base64 body. Returns the one-line
 * form (a stable name for the key in reports).
 */
export function normalizePublicKey(text: string): string {
  const t = text.trim();
  const der = t.includes("-----BEGIN") ? pemBody(t, "PUBLIC KEY") : (() => {
    try {
      return /^[A-Za-z0-9+/=]+$/.test(t) ? unb64(t) : null;
    } catch {
      return null;
    }
  })();
  // An Ed25519 SPKI is 44 bytes: a fixed 12-byte prefix and the 32-byte key.
  if (!der || der.length !== 44 || b64(der.subarray(0, 12)) !== "MCowBQYDK2VwAyEA") {
    throw new SigningKeyError(
      "a trusted key is not an Ed25519 public key: pass the .signing.pub file 'lifeboat keygen' wrote, or its one-line MCowBQYDK2VwAyEA… body",
    );
  }
  return b64(der);
}

/** The public key (one-line form) of a private signing key. */
export async function publicKeyOf(privatePem: string): Promise<string> {
  const der = pemBody(privatePem, "PRIVATE KEY");
  if (!der) throw new SigningKeyError("the signing key is not a PKCS#8 PEM private key");
  const k = await crypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]);
  // WebCrypto exports the public half from the private JWK (x).
  const jwk = await crypto.subtle.exportKey("jwk", k);
  const raw = unb64(jwk.x!.replace(/-/g, "+").replace(/_/g, "/") + "=");
  const spki = new Uint8Array(44);
  spki.set(unb64("MCowBQYDK2VwAyEA"), 0);
  spki.set(raw, 12);
  return b64(spki);
}

/** Signs a manifest's exact bytes: the raw 64-byte Ed25519 signature. */
export async function signManifest(key: CryptoKey, manifestBytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ALG, key, owned(manifestBytes)));
}

/**
 * The trusted key (one-line form) whose signature `sig` is over `manifestBytes`, or null when
 * none of `trusted` signed them.
 */
export async function signerOf(manifestBytes: Uint8Array, sig: Uint8Array, trusted: string[]): Promise<string | null> {
  if (sig.length !== 64) return null;
  for (const t of trusted) {
    const k = await crypto.subtle.importKey("spki", unb64(normalizePublicKey(t)), ALG, false, ["verify"]);
    if (await crypto.subtle.verify(ALG, k, owned(sig), owned(manifestBytes))) return normalizePublicKey(t);
  }
  return null;
}
