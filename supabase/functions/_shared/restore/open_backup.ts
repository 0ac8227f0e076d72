/**
 * Restore phase "manifest": find the backup (the latest complete one when no id is given),
 * read its manifest, check its signature against the trusted keys (before any other object
 * is read), and make sure the given identity can decrypt it.
 * @module
 */
import type { Manifest } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import { identityMatches } from "../verify/mod.ts";
import { type Check, check } from "../checks.ts";

/** Without trust options, nothing is trusted: every backup is refused. */
const NO_TRUST: ManifestTrust = { trustedKeys: [], allowUnsigned: false };
import { BackupError, latestBackupId, type ManifestTrust, readAuthenticManifest } from "../verify/mod.ts";
import { failCheck } from "./abort.ts";
import { largeObjectsWarning } from "../export/mod.ts";

/** The backup a restore reads. */
export interface OpenedBackup {
  manifest: Manifest;
  encrypted: boolean;
}

/** What {@link openBackup} found, also when it then stopped the restore. */
export interface FoundBackup {
  id: string | null;
  manifest?: Manifest;
}

/**
 * Reads the manifest of backup `id` (null: the latest) and checks the identities against its
 * recipients. `found` holds the id and the manifest as soon as they are known.
 */
export async function openBackup(
  o: { store: Store; id: string | null; identities: string[] | null; trust?: ManifestTrust; signal?: AbortSignal },
  checks: Check[],
  found: FoundBackup = { id: o.id },
): Promise<OpenedBackup> {
  let id = o.id;
  let manifest: Manifest | undefined;
  try {
    if (!id) found.id = id = await latestBackupId(o.store, o.signal, { database: true });
    const authentic = await readAuthenticManifest(o.store, id, o.trust ?? NO_TRUST, o.signal);
    found.manifest = manifest = authentic.manifest;
    if (!authentic.signedBy) {
      checks.push(check("signature", "warn", id, "the backup is not signed (accepted by --allow-unsigned): its authorship is not checked",
        "Take signed backups (lifeboat keygen writes a signing key) and drop --allow-unsigned."));
    } else {
      checks.push(check("signature", "ok", id, `manifest signed by trusted key ${authentic.signedBy.slice(-12)}`));
    }
  } catch (err) {
    if (err instanceof BackupError && (err.code === "unsigned" || err.code === "bad_signature")) {
      failCheck(checks, "signature", id ?? "store", err.message,
        "Nothing was read beyond the manifest and nothing was written. Pass the writer's key with --trust-key, or --allow-unsigned for a backup older than signing.");
    }
    if (err instanceof BackupError) {
      failCheck(checks, "manifest", id ?? "store", err.message, "Choose a complete backup (lifeboat verify --latest).");
    }
    failCheck(checks, "manifest", id ?? "store", `cannot read the backup: ${(err as Error).message}`, "Check --store and its credentials.");
  }
  const m = manifest!;
  if (m.kind === "files") {
    failCheck(checks, "manifest", m.id, `backup ${m.id} is a files backup (a backup-export files job): it holds Storage files, no database`,
      "Restore its files with --storage-target <project URL> and without --target; nothing was written.");
  }
  if (m.largeObjectsNotExported) {
    checks.push(check("large_objects", "warn", m.id, largeObjectsWarning(m.largeObjectsNotExported),
      "Restore the large objects from where they were exported separately; oid columns will point at nothing until then."));
  }
  const encrypted = m.encryption.scheme !== "none";
  if (encrypted && !o.identities?.length) {
    failCheck(checks, "identity", m.id, "the backup is encrypted and no identity was given", "Pass --identity <age identity file>.");
  }
  if (encrypted && !(await identityMatches(m, o.identities!))) {
    failCheck(
      checks,
      "identity",
      m.id,
      `the given identity is not one of the backup's ${m.encryption.recipients.length} recipients: it cannot decrypt it`,
      "Use the age identity file whose recipient (age1…) is listed in the manifest; nothing was written.",
    );
  }
  return { manifest: m, encrypted };
}
