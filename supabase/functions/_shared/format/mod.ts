/**
 * The backup format, owned in one place: the manifest and its types, backup ids and object keys,
 * file blob keys, the manifest signature, and the fingerprint SQL (docs/format.md describes it).
 * Code outside this folder imports only this module.
 * @module
 */
export { FINGERPRINT_FUNCTIONS } from "./fingerprint.ts";
export {
  backupPrefix,
  blobKey,
  blobNamespace,
  blobStagingKey,
  BLOBS_PREFIX,
  BucketEntry,
  COMPRESSIONS,
  dataPartKey,
  FileEntry,
  FilesSection,
  FORMAT_VERSION,
  isBackupId,
  LIFEBOAT_VERSION,
  Manifest,
  MANIFEST_KEY,
  ManifestPlatform,
  ManifestScope,
  newBackupId,
  objectKey,
  parseManifest,
  schemaKey,
  SequenceEntry,
  SkippedFile,
  StoredObjectEntry,
  TableEntry,
  tableSlug,
} from "./manifest.ts";
export type { Compression, ObjectKind } from "./manifest.ts";
export {
  generateSigningKey,
  importSigningKey,
  looksLikeSigningKey,
  normalizePublicKey,
  publicKeyOf,
  SIGNATURE_KEY,
  SigningKeyError,
  signerOf,
  signManifest,
} from "./signature.ts";
