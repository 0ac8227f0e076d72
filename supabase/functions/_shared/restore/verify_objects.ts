/**
 * Restore phase "verify": the size and sha256 of every object the restore reads, checked
 * before anything is written (schema objects first, as they are needed to plan; then the
 * data parts of the tables the plan restores), and the schema scripts read.
 * @module
 */
import { AgeKeyError } from "../crypto/mod.ts";
import type { Manifest, StoredObjectEntry } from "../format/mod.ts";
import type { Store } from "../store/mod.ts";
import { type Check, check } from "../checks.ts";
import { checkIntegrity } from "../verify/mod.ts";
import { failCheck, RestoreAbort } from "./abort.ts";
import { type BackupScripts, readScripts } from "./scripts.ts";

/** Where the objects are read from. */
export interface VerifySource {
  store: Store;
  manifest: Manifest;
  /** Objects checked at once. */
  concurrency: number;
  signal?: AbortSignal;
}

/** Verifies `objects`; records the failures and stops the restore if any fails. */
async function verifyObjects(src: VerifySource, objects: StoredObjectEntry[], what: string, checks: Check[]): Promise<void> {
  const integ = await checkIntegrity(src.store, { ...src.manifest, objects }, { signal: src.signal, concurrency: src.concurrency });
  if (integ.verdicts.some((v) => !v.ok)) {
    checks.push(...integ.checks.filter((c) => c.level === "error"));
    throw new RestoreAbort(`${what} failed verification`);
  }
}

/** Verifies the schema objects and reads them; returns the scripts and how many objects were verified. */
export async function verifyAndReadScripts(
  src: VerifySource,
  identities: string[] | null,
  checks: Check[],
): Promise<{ scripts: BackupScripts; verified: number }> {
  const m = src.manifest;
  const scriptObjects = m.objects.filter((x) => x.kind !== "data");
  // The closure is computed after reading pre-data; verify all schema objects now, and the
  // parts of the tables to restore once the plan knows them (verifyParts).
  await verifyObjects(src, scriptObjects, "schema objects", checks);
  try {
    return { scripts: await readScripts(src.store, m, identities, src.signal), verified: scriptObjects.length };
  } catch (err) {
    return failCheck(
      checks,
      "identity",
      m.id,
      err instanceof AgeKeyError ? err.message : `the schema scripts cannot be read: ${(err as Error).message}`,
      "Use the identity of one of the backup's recipients; nothing was written.",
    );
  }
}

/** Verifies the data parts to load, then records that all `verified + parts` objects passed. */
export async function verifyParts(src: VerifySource, parts: StoredObjectEntry[], verified: number, checks: Check[]): Promise<void> {
  await verifyObjects(src, parts, "data parts", checks);
  checks.push(
    check("integrity", "ok", src.manifest.id, `${verified + parts.length} objects verified (size and sha256) before writing`),
  );
}
