/**
 * The verification engine behind `lifeboat verify` (and, later, the scheduled variant run by
 * an edge function): integrity, completeness and accessibility of one backup, as a list of
 * checks in the uniform shape, optionally recorded in `lifeboat.verification_runs`.
 * Needs only a store and, for completeness and recording, a connection to the source.
 * @module
 */
import { checkFiles } from "../source/storage/mod.ts";
import { describeDbError, type Sql } from "../db/mod.ts";
import type { Manifest } from "../format/mod.ts";
import { type Store, StoreError } from "../store/mod.ts";
import { checkSampleDecrypts } from "./access.ts";
import { type Check, check, findings, summarize, type Summary } from "../checks.ts";
import { checkCompleteness } from "./completeness.ts";
import { checkIntegrity, checkManifestConsistency } from "./integrity.ts";
import { checkLockState } from "./lock_state.ts";
import { type AuthenticManifest, BackupError, latestBackupId, type ManifestTrust, readAuthenticManifest } from "./locate.ts";
import { checkAllObjectsDecrypt } from "./parts.ts";
import { checkRecorded } from "./recorded.ts";
import { largeObjectsWarning } from "../export/mod.ts";

/** What to verify and with what. */
export interface VerifyOptions {
  store: Store;
  /** Backup id; omit to verify the latest complete backup. */
  id?: string;
  /** age identities (AGE-SECRET-KEY-1…); null or empty = ciphertext checks only. */
  identities?: string[] | null;
  /** Which signing keys are trusted (none when absent: every backup fails the signature check). */
  trust?: ManifestTrust;
  /** With identities: decrypt one sample object instead of every object. */
  sample?: boolean;
  /** The source database, for completeness and for recording the run. */
  source?: Sql | null;
  /** verification_runs.kind: 'manual' from the CLI, 'scheduled' from pg_cron. */
  runKind?: "manual" | "scheduled" | "backup" | "restore";
  concurrency?: number;
  signal?: AbortSignal;
  onObject?: (key: string, bytes: number) => void;
}

/** A verification's outcome. */
export interface VerifyReport {
  backupId: string | null;
  store: string;
  startedAt: string;
  finishedAt: string;
  passed: boolean;
  summary: Summary;
  checks: Check[];
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /** verification_runs.id, when recorded. */
  recordedId?: number;
}

function storeProblem(err: unknown): Check {
  const code = err instanceof StoreError ? err.code : "failed";
  const remediation = code === "auth"
    ? "Check the store credentials (LIFEBOAT_S3_ACCESS_KEY_ID / LIFEBOAT_S3_SECRET_ACCESS_KEY, or LIFEBOAT_AZURE_ACCOUNT_KEY / LIFEBOAT_AZURE_SAS_TOKEN) and their permissions."
    : code === "archived"
    ? "The backup is in an offline storage tier: rehydrate (Azure) or restore (S3 Glacier) its objects, then run verify again; or verify a copy that is online."
    : code === "no_bucket"
    ? "Check the bucket name or directory in --store; create it if this is a new store."
    : "Check the store endpoint and network, then run verify again.";
  return check("store_access", "error", "store", `the store could not be read: ${err instanceof Error ? err.message : String(err)}`,
    remediation, { code });
}

/** Verifies one backup. Never throws for a bad backup: problems become checks. */
export async function verifyBackup(opts: VerifyOptions): Promise<VerifyReport> {
  const startedAt = new Date().toISOString();
  const checks: Check[] = [];
  const identities = opts.identities && opts.identities.length > 0 ? opts.identities : null;
  let id = opts.id ?? null;
  let manifest: Manifest | undefined;
  let authentic: AuthenticManifest | undefined;
  try {
    if (!id) id = await latestBackupId(opts.store, opts.signal);
    authentic = await readAuthenticManifest(opts.store, id, opts.trust ?? { trustedKeys: [], allowUnsigned: false }, opts.signal);
    manifest = authentic.manifest;
    checks.push(check("store_access", "ok", "store", `${opts.store.describe()} is readable with the configured credentials`));
    checks.push(authentic.signedBy
      ? check("signature", "ok", id, `manifest.json is signed by trusted key ${authentic.signedBy.slice(-12)}`)
      : check("signature", "warn", id, "the backup is not signed (accepted by --allow-unsigned): its authorship is not checked",
        "Take signed backups (lifeboat keygen writes a signing key) and drop --allow-unsigned."));
  } catch (err) {
    if (err instanceof BackupError && (err.code === "unsigned" || err.code === "bad_signature")) {
      // Nothing of the backup beyond its manifest is read.
      checks.push(check("signature", "error", id ?? "store", err.message,
        "Pass the writer's public key with --trust-key, or --allow-unsigned for a backup older than signing."));
    } else if (err instanceof BackupError) {
      checks.push(check("manifest", "error", id ?? "store", err.message,
        err.code === "incomplete" ? "Restore an older complete backup and take a new one." :
          err.code === "not_found" ? "List the store's backups, or use --latest." : "Take a new backup."));
    } else if (err instanceof Error && err.message.startsWith("not a valid Lifeboat manifest")) {
      checks.push(check("manifest", "error", id ?? "store", err.message,
        "The manifest is damaged or from another format version: use another backup or a matching Lifeboat version."));
    } else {
      checks.push(storeProblem(err));
    }
  }
  if (manifest) {
    checks.push(...checkManifestConsistency(manifest));
    if (manifest.largeObjectsNotExported) {
      checks.push(check("large_objects", "warn", manifest.id, largeObjectsWarning(manifest.largeObjectsNotExported),
        "Back up the large objects separately, or move their contents into bytea columns."));
    }
    const integ = await checkIntegrity(opts.store, manifest, {
      concurrency: opts.concurrency,
      signal: opts.signal,
      onObject: opts.onObject,
    });
    checks.push(...integ.checks);
    checks.push(await checkLockState(opts.store, manifest, { concurrency: opts.concurrency, signal: opts.signal }));
    if (identities || manifest.encryption.scheme === "none") {
      const sample = await checkSampleDecrypts(opts.store, manifest, identities, opts.signal);
      checks.push(...sample);
      // Every object, unless only a sample was asked for (or the identity is not a recipient).
      if (!opts.sample && !sample.some((c) => c.check === "identity")) {
        checks.push(...await checkAllObjectsDecrypt(opts.store, manifest, identities, { concurrency: opts.concurrency, signal: opts.signal }));
      }
    } else {
      checks.push(check("sample_decrypt", "ok", manifest.id,
        "not attempted: no identity given, so only the ciphertext was checked", "",
        { skipped: true }));
    }
    checks.push(...await checkFiles(opts.store, manifest, identities, opts.source ?? null, opts.signal));
    if (opts.source) {
      try {
        checks.push(...await checkRecorded(opts.source, manifest, authentic!.sha256));
      } catch (err) {
        checks.push(check("backup_recorded", "warn", manifest.id,
          `the source's lifeboat.backup_runs could not be read (${describeDbError(err)}), so the backup's record was not checked`,
          "Apply the Lifeboat migrations to the source, or pass its --db-url."));
      }
      try {
        checks.push(...await checkCompleteness(opts.source, manifest));
      } catch (err) {
        checks.push(check("completeness", "warn", manifest.database,
          `the source could not be inspected (${describeDbError(err)}), so completeness was not checked`,
          "Pass a reachable --db-url of the source database."));
      }
    }
  }
  const summary = summarize(checks);
  const report: VerifyReport = {
    backupId: id,
    store: opts.store.describe(),
    startedAt,
    finishedAt: new Date().toISOString(),
    passed: summary.passed,
    summary,
    checks,
    manifest,
  };
  if (opts.source) report.recordedId = await recordVerification(opts.source, report, opts.runKind ?? "manual");
  return report;
}

/**
 * Records a verification in `lifeboat.verification_runs` (findings = the non-ok checks).
 * Returns the row id, or undefined when the source has no Lifeboat schema or refuses.
 */
export async function recordVerification(
  sql: Sql,
  r: VerifyReport,
  kind: "manual" | "scheduled" | "backup" | "restore",
): Promise<number | undefined> {
  try {
    const details = {
      backupId: r.backupId,
      store: r.store,
      checks: r.checks.map((c) => ({ check: c.check, level: c.level, object: c.object })).slice(0, 200),
    };
    const rows = await sql<{ id: number }[]>`
      insert into lifeboat.verification_runs
        (kind, backup_run_id, source, started_at, finished_at, success, checks_total, warnings, errors, findings, details)
      values (${kind},
        (select b.id from lifeboat.backup_runs b
          where b.manifest_key = ${`${r.backupId}/manifest.json`} or b.manifest_key like ${`%/${r.backupId}/manifest.json`}
          order by b.id desc limit 1),
        'lifeboat verify', ${r.startedAt}, ${r.finishedAt}, ${r.passed}, ${r.summary.total}, ${r.summary.warnings},
        ${r.summary.errors}, ${sql.json(findings(r.checks) as never)}, ${sql.json(details as never)})
      returning id`;
    return Number(rows[0].id);
  } catch {
    return undefined;
  }
}
