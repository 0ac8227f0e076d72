/**
 * `lifeboat backup`: export the database into a store, encrypted to age recipients, and
 * record the run in lifeboat.backup_runs / lifeboat.backup_parts.
 * @module
 */
import { connect, databaseUrlProblem, describeDbError, type Sql } from "../../supabase/functions/_shared/db/mod.ts";
import { AgeKeyError, parseRecipient, parseRecipientsFile } from "../../supabase/functions/_shared/crypto/mod.ts";
import {
  decideCodec,
  decideEncryption,
  ExportConfigError,
  type ExportProgress,
  parseTableName,
  type PolicyProblem,
  poolSizeFor,
  recordedBackup,
  RunNotRecordedError,
  runTarget,
  SelectionError,
  type Selection,
  TargetBusyError,
} from "../../supabase/functions/_shared/export/mod.ts";
import { openStore, type Store, StoreError } from "../../supabase/functions/_shared/store/mod.ts";
import { type Compression, COMPRESSIONS, newBackupId } from "../../supabase/functions/_shared/format/mod.ts";
import { countOption, parseCommand, usageError } from "./common.ts";
import { largeObjectsWarning } from "../../supabase/functions/_shared/export/mod.ts";
import { importSigningKey, looksLikeSigningKey } from "../../supabase/functions/_shared/format/mod.ts";
import { filesPhase, recordFilesManifest, StorageApi, StorageKeyError, storageKeyFromEnv } from "../../supabase/functions/_shared/source/storage/mod.ts";
import { formatBytes } from "../../supabase/functions/_shared/text/mod.ts";

const USAGE = `usage: lifeboat backup --store <dir|file://…|s3://bucket/prefix> --recipient age1… [options]

Exports the database (one consistent snapshot) into <store>/<backup id>/, compressed (zstd by
default) and age-encrypted, and writes manifest.json last. Restore with 'lifeboat restore' or,
without Lifeboat, 'age -d -i key.txt | zstd -d | psql' ('| gunzip |' for a gzip backup;
docs/format.md).

options:
  --db-url URL             database (default: $LIFEBOAT_DB_URL, then $SUPABASE_DB_URL)
  --store LOCATION         a directory, file:///path, s3://bucket/prefix (S3 settings from
                           LIFEBOAT_S3_ENDPOINT, _REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY) or
                           az://account/container/prefix (LIFEBOAT_AZURE_ACCOUNT_KEY or _SAS_TOKEN;
                           storage classes, object lock, tiers: docs/stores.md)
  --recipient age1…        encrypt to this public key (repeatable)
  --recipients-file PATH   one age1… recipient per line
  --unencrypted            compress only, no encryption (recorded in the manifest)
  --signing-key PATH       Ed25519 key the manifest is signed with (the .signing file 'lifeboat
                           keygen' writes; default $LIFEBOAT_SIGNING_KEY_FILE)
  --unsigned               write an unsigned backup (verify/restore/drill then need --allow-unsigned)
  --compression CODEC      zstd or gzip, both level 1 (default: zstd, or gzip on a Deno whose
                           node:zlib lacks zstd); recorded in the manifest and in the object
                           keys (.zst / .gz). zstd is faster and about half the size; gzip
                           restores by hand where no zstd CLI is at hand
  --include-schema NAME    only these schemas (repeatable)
  --exclude-schema NAME    leave these schemas out (repeatable)
  --table SCHEMA.NAME      only these tables (repeatable; a 'tables' backup)
  --exclude-table S.NAME   leave these tables out (repeatable)
  --include-auth-sessions  also copy GoTrue's sessions, refresh tokens, flow state and other
                           short-lived tables (restoring live tokens elsewhere revives logins)
  --include-auth-audit     also copy GoTrue's audit log (auth.audit_log_entries)
  --include-vault          also export the Vault secrets, decrypted inside the encrypted
                           backup (needs a recipient), re-created with vault.create_secret
  --label TEXT             a label recorded in the manifest and the run
  --concurrency N          tables exported at once (default 2)
  --part-size MiB          plain (COPY text) bytes per data part (default 8)
  --files                  back up the Storage files (every object of storage.objects, read
                           through the Storage API; content-addressed blobs, incremental). The
                           default whenever a Storage URL and key are configured (and neither
                           --table nor --include-schema narrows the backup); with --files a
                           missing URL or key is an error
  --no-files               leave the Storage files out (the manifest and a warning say so)
  --storage-url URL        the project URL for the files (default: $LIFEBOAT_STORAGE_URL, then
                           $SUPABASE_URL)
  --storage-key KEY        the project's secret key for the files (default: $LIFEBOAT_STORAGE_KEY,
                           then the default of $SUPABASE_SECRET_KEYS, then $SUPABASE_SERVICE_ROLE_KEY)
  --bucket ID              only the files of this bucket (repeatable; implies --files)
  --files-concurrency N    files read at once (default 8)
  --json                   JSON lines on stdout instead of a progress bar
  -h, --help               this help

exit status: 0 done, 1 the export failed, 2 bad usage or environment, 3 another backup is
still writing into the same store (only one at a time per store).`;

/** A problem with the invocation or environment the user must fix (exit 2). */
class UsageError extends Error {}

interface Args {
  dbUrl: string;
  store: string;
  recipients: string[];
  unencrypted: boolean;
  /** The signing key's PEM text; null with --unsigned. */
  signingKey: string | null;
  compression: Compression;
  selection: Selection;
  label: string | null;
  concurrency: number;
  partBytes: number;
  json: boolean;
  files: FilesArgs | null;
  /** Without files: why (recorded in the manifest, said as a warning). */
  filesNotBackedUp: string | null;
}

/** Where the files come from (--files, or by default when a Storage URL and key are configured). */
interface FilesArgs {
  url: string;
  key: string;
  buckets: string[] | null;
  concurrency: number;
  /** Asked for with --files or --bucket (not only by default). */
  explicit: boolean;
}

const OPTIONS = {
  "db-url": { type: "string" },
  store: { type: "string" },
  recipient: { type: "string", multiple: true },
  "recipients-file": { type: "string" },
  unencrypted: { type: "boolean" },
  "signing-key": { type: "string" },
  unsigned: { type: "boolean" },
  compression: { type: "string" },
  "include-schema": { type: "string", multiple: true },
  "exclude-schema": { type: "string", multiple: true },
  table: { type: "string", multiple: true },
  "exclude-table": { type: "string", multiple: true },
  "include-auth-sessions": { type: "boolean" },
  "include-auth-audit": { type: "boolean" },
  "include-vault": { type: "boolean" },
  label: { type: "string" },
  concurrency: { type: "string" },
  "part-size": { type: "string" },
  json: { type: "boolean" },
  files: { type: "boolean" },
  "no-files": { type: "boolean" },
  "storage-url": { type: "string" },
  "storage-key": { type: "string" },
  bucket: { type: "string", multiple: true },
  "files-concurrency": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The flags' wording of the export policy's problems. */
const POLICY_MESSAGES: Record<PolicyProblem, string> = {
  no_recipient:
    "no recipient: backups are encrypted; pass --recipient age1… (make a key with 'lifeboat keygen'), or --unencrypted to opt out explicitly",
  recipients_with_unencrypted: "--unencrypted and --recipient/--recipients-file contradict each other: choose one",
  zstd_unavailable: "--compression zstd: this Deno's node:zlib has no zstd (Deno 2.6 or later has it); use --compression gzip",
};
const policyError = (p: PolicyProblem) => new UsageError(POLICY_MESSAGES[p]);

/** The signing key's text from its file, or null for an explicitly unsigned backup. */
function readSigningKeyFile(path: string | undefined, unsigned: boolean): string | null {
  if (unsigned) {
    if (path && !Deno.env.get("LIFEBOAT_SIGNING_KEY_FILE")) throw new UsageError("--signing-key and --unsigned contradict each other: choose one");
    return null;
  }
  if (!path) {
    throw new UsageError(
      "no signing key: backups are signed; pass --signing-key (the .signing file 'lifeboat keygen' wrote beside the identity) " +
        "or set LIFEBOAT_SIGNING_KEY_FILE, or --unsigned to opt out explicitly",
    );
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    throw new UsageError(`cannot read the signing key '${path}': check the path and its permissions`);
  }
  if (!looksLikeSigningKey(text)) throw new UsageError(`'${path}' is not a signing key (PKCS#8 PEM): use the .signing file 'lifeboat keygen' wrote`);
  return text;
}

/** The arguments, or the exit status when parsing already ended the command (--help, a parse error). */
function parse(argv: string[]): Args | number {
  const parsed = parseCommand("backup", USAGE, argv, OPTIONS, { positionals: false, shortErrors: true });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;

  const dbUrl = v["db-url"] ?? Deno.env.get("LIFEBOAT_DB_URL") ?? Deno.env.get("SUPABASE_DB_URL") ?? "";
  if (!dbUrl) throw new UsageError("no database: pass --db-url or set LIFEBOAT_DB_URL / SUPABASE_DB_URL");
  checkDbUrl(dbUrl);
  if (!v.store) throw new UsageError("no store: pass --store with a directory, file:///path, s3://bucket/prefix or az://account/container/prefix");

  const recipients: string[] = [];
  try {
    for (const r of v.recipient ?? []) recipients.push(parseRecipient(r));
    if (v["recipients-file"]) {
      let text: string;
      try {
        text = Deno.readTextFileSync(v["recipients-file"]);
      } catch {
        throw new UsageError(`cannot read the recipients file '${v["recipients-file"]}': check the path`);
      }
      recipients.push(...parseRecipientsFile(text));
    }
  } catch (err) {
    if (err instanceof AgeKeyError) throw new UsageError(`bad recipient: ${err.message}`);
    throw err;
  }
  const encryption = decideEncryption(recipients, Boolean(v.unencrypted), policyError);
  const signingKey = readSigningKeyFile(v["signing-key"] ?? Deno.env.get("LIFEBOAT_SIGNING_KEY_FILE"), Boolean(v.unsigned));
  if (v["include-vault"] && !encryption.encrypted) {
    throw new UsageError("--include-vault writes the secrets decrypted, so only into an encrypted backup: drop --unencrypted and pass a --recipient");
  }
  const compression = decideCodec(parseCompression(v.compression), policyError);

  const tableRefs = (list: string[] | undefined) =>
    (list ?? []).map((t) => {
      try {
        return parseTableName(t);
      } catch (err) {
        throw new UsageError(`bad table name: ${(err as Error).message}`);
      }
    });
  const positiveInt = (name: string, text: string | undefined, dflt: number, max: number) => {
    // An empty value is refused, not taken for the default.
    const n = text === "" ? null : countOption(text, dflt, max);
    if (n === null) throw new UsageError(`--${name} must be a whole number from 1 to ${max}`);
    return n;
  };
  return {
    dbUrl,
    store: v.store,
    recipients: encryption.recipients,
    unencrypted: !encryption.encrypted,
    signingKey,
    compression,
    selection: {
      includeSchemas: v["include-schema"] ?? [],
      excludeSchemas: v["exclude-schema"] ?? [],
      tables: tableRefs(v.table),
      excludeTables: tableRefs(v["exclude-table"]),
      includeAuthSessions: !!v["include-auth-sessions"],
      includeAuthAudit: !!v["include-auth-audit"],
      includeVault: !!v["include-vault"],
    },
    label: v.label ?? null,
    concurrency: positiveInt("concurrency", v.concurrency, 2, 32),
    partBytes: positiveInt("part-size", v["part-size"], 8, 4096) * 1024 * 1024,
    json: Boolean(v.json),
    ...filesChoice(v, (text) => positiveInt("files-concurrency", text, 8, 64)),
  };
}

export { storageKeyFromEnv };

/**
 * Whether the backup takes the Storage files: yes with --files or --bucket; no with --no-files
 * or for a backup narrowed with --table or --include-schema; otherwise yes when a Storage URL
 * and key are configured. Without
 * files, the reason (the manifest's `filesNotBackedUp`).
 */
function filesChoice(
  v: { [k: string]: unknown },
  concurrencyOf: (text: string | undefined) => number,
): { files: FilesArgs | null; filesNotBackedUp: string | null } {
  const buckets = (v.bucket as string[] | undefined) ?? [];
  const explicit = Boolean(v.files) || buckets.length > 0;
  if (v["no-files"] && explicit) throw new UsageError("--no-files contradicts --files/--bucket: pass one of them");
  if (v["no-files"]) return { files: null, filesNotBackedUp: "--no-files was given" };
  const url = (v["storage-url"] as string | undefined) ?? Deno.env.get("LIFEBOAT_STORAGE_URL") ?? Deno.env.get("SUPABASE_URL") ?? "";
  const key = (v["storage-key"] as string | undefined) ?? storageKeyFromEnv();
  if (!explicit) {
    if ((v.table as string[] | undefined)?.length || (v["include-schema"] as string[] | undefined)?.length) {
      return { files: null, filesNotBackedUp: "a backup narrowed with --table or --include-schema takes the Storage files only with --files" };
    }
    if (!url || !key) {
      return {
        files: null,
        filesNotBackedUp: `no Storage ${!url ? "URL" : "key"} is configured (set LIFEBOAT_STORAGE_URL or SUPABASE_URL and ` +
          "LIFEBOAT_STORAGE_KEY or SUPABASE_SECRET_KEYS, or pass --storage-url and --storage-key)",
      };
    }
  }
  const concurrency = concurrencyOf(v["files-concurrency"] as string | undefined);
  return { files: { url, key, buckets: buckets.length ? buckets : null, concurrency, explicit }, filesNotBackedUp: null };
}

/** The --compression value (undefined: the policy's default). */
function parseCompression(text: string | undefined): Compression | undefined {
  if (text === undefined) return undefined;
  const codec = text.trim().toLowerCase();
  if (!(COMPRESSIONS as readonly string[]).includes(codec)) {
    throw new UsageError(`--compression must be one of ${COMPRESSIONS.join(", ")} (got '${text}')`);
  }
  return codec as Compression;
}

function checkDbUrl(url: string): void {
  const problem = databaseUrlProblem(url);
  if (problem) throw new UsageError(problem);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError("the database URL is not a URL: expected postgresql://user:password@host:port/database");
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new UsageError(`the database URL must start with postgresql:// (got '${u.protocol}//')`);
  }
  if (!u.hostname && !u.searchParams.get("host")) {
    throw new UsageError("the database URL names no host: expected postgresql://user:password@host:port/database");
  }
}

/** Opens the store and checks it answers, so a typo fails before any data is read. */
async function openAndProbe(spec: string, backupId: string): Promise<Store> {
  // Upload memory is (concurrency + 1) × chunk size per table in flight: keep it small.
  const store = openStore(spec, { tuning: { uploadConcurrency: 2, uploadChunkBytes: 5 * 1024 * 1024 } });
  const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || spec.startsWith("file://");
  if (local) {
    const root = spec.startsWith("file://") ? decodeURIComponent(new URL(spec).pathname) : spec;
    try {
      await Deno.mkdir(root, { recursive: true });
      const probe = await Deno.makeTempFile({ dir: root, prefix: ".lifeboat-probe-" });
      await Deno.remove(probe);
    } catch (err) {
      const why = err instanceof Deno.errors.PermissionDenied ? "permission denied" : err instanceof Error ? err.name : "error";
      throw new StoreError("unavailable", `cannot write to the local store '${root}' (${why}): choose a writable directory`);
    }
    return store;
  }
  for await (const _ of store.list(`${backupId}/`)) break; // one request: bucket, credentials, network
  return store;
}

function safeDbMessage(err: unknown): string {
  const code = (err as { code?: string })?.code;
  if (code === "42501") {
    // Postgres names only the object here ("permission denied for table x"), never data.
    const what = String((err as Error).message ?? "").match(/permission denied for [a-z ]+ \S+/)?.[0] ?? "permission denied";
    return `${what}: grant the role access to it, or exclude it from the backup`;
  }
  if (code === "42P01" || code === "42883" || code === "3F000") {
    return "Lifeboat is not installed in this database (apply the migrations in supabase/migrations)";
  }
  if (code === "55P03") return "a table is locked by another session (lock timeout): retry when it is free";
  return describeDbError(err);
}

/** Progress and totals count bytes in decimal steps (KB, MB: 1000). */
const DECIMAL = { base: 1000 } as const;

function fmtSecs(s: number | null): string {
  if (s === null) return "--";
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Renders progress: a redrawn bar on a TTY, JSON lines (at most one a second) otherwise. */
function progressRenderer(json: boolean): (p: ExportProgress, force?: boolean) => void {
  const tty = !json && Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let last = 0;
  return (p, force = false) => {
    const now = Date.now();
    if (!force && now - last < (tty ? 150 : 1000)) return;
    last = now;
    if (tty) {
      const frac = p.estimatedBytes ? Math.min(1, p.bytes / p.estimatedBytes) : 0;
      const w = 24;
      const bar = "#".repeat(Math.round(frac * w)).padEnd(w, ".");
      const rate = p.elapsedMs > 0 ? p.bytes / (p.elapsedMs / 1000) : 0;
      const line = `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${formatBytes(p.bytes, DECIMAL)}  ${p.rows.toLocaleString("en")} rows  ` +
        `${p.tablesDone}/${p.tablesTotal} tables  ${formatBytes(rate, DECIMAL)}/s  ETA ${fmtSecs(p.etaSeconds)}`;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[K${line}`));
    } else {
      console.log(JSON.stringify({ event: "progress", ...p }));
    }
  };
}

/** Describes a failed export, and whether it was the user's to fix (exit 2) or not (exit 1). */
function describeFailure(err: unknown, cancelled: boolean): { code: number; message: string } {
  if (err instanceof SelectionError || err instanceof ExportConfigError || err instanceof AgeKeyError) {
    return { code: 2, message: err.message };
  }
  if (err instanceof StoreError) return { code: 1, message: `store: ${err.message}` };
  if (cancelled) return { code: 1, message: "cancelled; no manifest was written, so this backup is incomplete and will not be used" };
  if ((err as { code?: string })?.code || (err as { name?: string })?.name === "PostgresError") {
    return { code: 1, message: `database: ${safeDbMessage(err)}` };
  }
  return { code: 1, message: `export failed: ${err instanceof Error ? err.message : String(err)}` };
}

/** Runs `lifeboat backup`. */
export async function run(argv: string[]): Promise<number> {
  let args: Args | number;
  try {
    args = parse(argv);
  } catch (err) {
    if (err instanceof UsageError) return usageError("backup")(err.message);
    throw err;
  }
  if (typeof args === "number") return args;
  const a = args;
  const say = (event: string, data: Record<string, unknown>) => {
    if (a.json) console.log(JSON.stringify({ event, ...data }));
  };
  const fail = (code: number, message: string) => {
    if (Deno.stderr.isTerminal() && !a.json) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    console.error(`lifeboat backup: ${message}`);
    say("error", { message });
    return code;
  };

  let signingKey: CryptoKey | null;
  try {
    signingKey = a.signingKey ? await importSigningKey(a.signingKey) : null;
  } catch (err) {
    return fail(2, (err as Error).message);
  }
  // The Storage key is checked before any work (a wrong key must not cost a database export).
  let api: StorageApi | null = null;
  if (a.files) {
    if (!a.files.url) return fail(2, "--files: no project URL: pass --storage-url or set LIFEBOAT_STORAGE_URL / SUPABASE_URL");
    // Files by default: a configured key that Storage refuses is an error, not a silent skip.
    const hint = a.files.explicit ? "" : " (files are backed up by default when a Storage URL and key are configured; --no-files leaves them out)";
    try {
      api = new StorageApi({ url: a.files.url, key: a.files.key, direct: Deno.env.get("LIFEBOAT_STORAGE_DIRECT") === "1" });
      await api.probe();
    } catch (err) {
      if (err instanceof StorageKeyError) return fail(2, `storage: ${err.message}${hint}`);
      return fail(2, `storage: ${(err as Error).message}${hint}`);
    }
  }

  const id = newBackupId();
  let store: Store;
  try {
    store = await openAndProbe(a.store, id);
  } catch (err) {
    if (err instanceof StoreError) return fail(2, `store: ${err.message}`);
    return fail(2, "the store could not be opened: check the location");
  }

  // One connection for the audit rows, a pool for the export (coordinator + workers).
  const audit: Sql = connect(a.dbUrl, { max: 1, applicationName: "lifeboat backup (audit)" });
  const sql: Sql = connect(a.dbUrl, { max: poolSizeFor(a.concurrency), applicationName: "lifeboat backup", idleTimeoutSeconds: 0, bulkCopyOut: true });
  const ac = new AbortController();
  const onSignal = () => ac.abort(new Error("cancelled by a signal"));
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    try {
      await audit`select 1`;
    } catch (err) {
      return fail(2, `cannot reach the database: ${safeDbMessage(err)}; check --db-url and that the server is up`);
    }
    // A database without Supabase Storage's schema has no files to take.
    if (api && !a.files?.explicit) {
      const [r] = await audit`select to_regclass('storage.objects') is not null as has`;
      if (!r.has) {
        api = null;
        a.filesNotBackedUp = "the database has no storage schema (not a Supabase project)";
      }
    }
    // Said once the run has started (the JSON stream's first line stays the `start` event).
    const warnNoFiles = () => {
      if (!a.filesNotBackedUp) return;
      if (a.json) say("warning", { filesNotBackedUp: a.filesNotBackedUp, message: `Storage files are NOT in this backup: ${a.filesNotBackedUp}` });
      else console.error(`warning: Storage files are NOT in this backup: ${a.filesNotBackedUp}`);
    };
    const render = progressRenderer(a.json);
    const result = await recordedBackup({
      audit,
      // The run holds its store (the target) while it runs: one backup per target at a time.
      run: {
        target: runTarget(a.store),
        metadata: { origin: "cli", backup_id: id, source: "cli", encrypted: !a.unencrypted, compression: a.compression },
      },
      onRunStarted: (runId) => {
        say("start", { id, runId, store: store.describe(), compression: a.compression });
        warnNoFiles();
      },
      describeFailure: (err) => describeFailure(err, ac.signal.aborted).message,
      onFailureNotRecorded: (runId) =>
        console.error(
          `lifeboat backup: the database is still unreachable, so run ${runId} could not be marked failed; it is marked failed ` +
            "as soon as the database is back (a restart ends its snapshot: the next backup or lifeboat.export_tick sweeps it at once)",
        ),
      sql,
      store,
      id,
      recipients: a.recipients,
      unencrypted: a.unencrypted,
      signingKey,
      compression: a.compression,
      selection: a.selection,
      label: a.label,
      concurrency: a.concurrency,
      partBytes: a.partBytes,
      signal: ac.signal,
      onProgress: (p) => render(p),
      files: api && a.files ? filesPhase({ api, store, buckets: a.files.buckets, concurrency: a.files.concurrency }) : undefined,
      filesNotBackedUp: a.filesNotBackedUp ?? undefined,
    });
    if (result.manifest.files) await recordFilesManifest(store, result.manifest);
    const m = result.manifest;
    const totals = result.totals;
    render(result.progress, true);
    const stored = m.objects.reduce((n, o) => n + o.size, 0);
    const secs = result.progress.elapsedMs / 1000;
    if (a.json) {
      if (m.largeObjectsNotExported) say("warning", { largeObjects: m.largeObjectsNotExported, message: largeObjectsWarning(m.largeObjectsNotExported) });
      say("done", {
        id, runId: result.runId, manifestKey: result.manifestKey, tables: m.tables.length, ...totals, storedBytes: stored, seconds: secs,
        ...(m.files ? { files: m.files.objects.length, fileBytesRead: m.files.bytesRead, filesReused: m.files.reused, filesSkipped: m.files.skipped } : {}),
        ...(m.filesNotBackedUp ? { filesNotBackedUp: m.filesNotBackedUp } : {}),
      });
    } else {
      if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
      console.log(
        `backup ${id} complete: ${m.tables.length} tables, ${totals.rows.toLocaleString("en")} rows, ` +
          `${formatBytes(totals.bytes, DECIMAL)} read, ${formatBytes(stored, DECIMAL)} stored (${m.compression}) in ${secs.toFixed(1)}s ` +
          `(${m.encryption.scheme === "none" ? "UNENCRYPTED" : `encrypted to ${m.encryption.recipients.length} recipient(s)`})`,
      );
      console.log(`manifest: ${a.store.replace(/\/+$/, "")}/${result.manifestKey}`);
      if (m.largeObjectsNotExported) console.log(`warning: ${largeObjectsWarning(m.largeObjectsNotExported)}`);
      if (m.files) {
        const f = m.files;
        console.log(
          `files: ${f.objects.length} in ${f.buckets.length} bucket(s), ${formatBytes(f.objects.reduce((n, o) => n + o.size, 0), DECIMAL)}; ` +
            `${formatBytes(f.bytesRead, DECIMAL)} read, ${f.reused} unchanged since the previous backup` +
            (f.skipped.length ? `; ${f.skipped.length} skipped (changed or deleted after the snapshot: see the manifest)` : ""),
        );
      }
      if (m.filesNotBackedUp) console.log(`warning: Storage files are NOT in this backup: ${m.filesNotBackedUp}`);
      if (m.roles.passwordsNotExported.length) {
        console.log(`note: passwords are never exported; after a restore, reset them for: ${m.roles.passwordsNotExported.join(", ")}`);
      }
    }
    return 0;
  } catch (err) {
    if (err instanceof TargetBusyError) return fail(3, err.message);
    if (err instanceof RunNotRecordedError) return fail(2, `cannot record the run: ${safeDbMessage(err.cause)}`);
    const { code, message } = describeFailure(err, ac.signal.aborted);
    return fail(code, message);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    await sql.end({ timeout: 5 }).catch(() => {});
    await audit.end({ timeout: 5 }).catch(() => {});
  }
}
