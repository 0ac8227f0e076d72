/**
 * Verification of a stored backup: integrity (sizes, sha256, decryption and COPY parsing of every
 * part), completeness against the source, accessibility, and locating and authenticating manifests.
 * Code outside this folder imports only this module.
 * @module
 */
export { identityMatches } from "./access.ts";
export { inspectAgeHeader } from "./ciphertext.ts";
export { checkAgainstSource, manifestProblem, signatureCheck, verifyBackup } from "./engine.ts";
export { hashObject, type HashedObject, hashStream, readEach, WHOLE_OBJECT_BUFFERS, WHOLE_OBJECT_MAX_BYTES, WholeObjectBuffers } from "./hash.ts";
export { checkIntegrity, checkManifestConsistency, checkObject, checkUnlisted, integrityOk, listStoredObjects } from "./integrity.ts";
export type { ObjectOutcome } from "./integrity.ts";
export { checkLockState, type ObjectLockState } from "./lock_state.ts";
export { BackupError, idTime, latestBackupId, listBackups, readAuthenticManifest, readManifest } from "./locate.ts";
export type { AuthenticManifest, ManifestTrust } from "./locate.ts";
