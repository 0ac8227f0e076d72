/**
 * Backup locations (issue 21): the set of places backups are kept (one primary, secondaries and
 * archives), its rules, where it is read from, opening a location's store with its named
 * credentials, and choosing the location a restore reads from.
 * Code outside this folder imports only this module.
 * @module
 */
export {
  type Location,
  LocationError,
  type LockPolicy,
  minRetentionDays,
  parseLocations,
  primaryOf,
  restoreOrder,
  type RetentionPolicy,
  type Role,
  ROLES,
  type StorageKind,
  storageKind,
} from "./config.ts";
export { defaultRetention, loadLocations, readLocationsSpec } from "./load.ts";
export { envSecrets, openLocation, type SecretReader, vaultSecrets } from "./open.ts";
export { chooseSource, type ChooseOptions, describeChoice, type SkippedLocation, type SourceChoice } from "./choose.ts";
