/**
 * Verification of a stored backup: integrity (sizes, sha256, decryption and COPY parsing of every
 * part), completeness against the source, accessibility, and locating and authenticating manifests.
 * Code outside this folder imports only this module.
 * @module
 */
export { identityMatches } from "./access.ts";
export { inspectAgeHeader } from "./ciphertext.ts";
export { verifyBackup } from "./engine.ts";
export { hashStream } from "./hash.ts";
export { checkIntegrity } from "./integrity.ts";
export { BackupError, latestBackupId, listBackups, readAuthenticManifest, readManifest } from "./locate.ts";
export type { ManifestTrust } from "./locate.ts";
