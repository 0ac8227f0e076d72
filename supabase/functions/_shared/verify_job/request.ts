/**
 * The backup-verify request body: `{}` (work on whatever needs it) or
 * `{ "backup_run_id": <id> }` (that backup's verification first).
 * @module
 */
import { z } from "zod";

/** A parsed request. */
export interface VerifyRequest {
  backupRunId?: number;
}

const schema = z.strictObject({ backup_run_id: z.number().int().positive().optional() });

/** Parses a request body; a problem names its field. */
export function parseVerifyRequest(
  body: unknown,
): { ok: true; value: VerifyRequest } | { ok: false; problem: { field: string; message: string } } {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.length ? issue.path.join(".") : issue.code === "unrecognized_keys" ? String(issue.keys[0]) : "(body)";
    const message = issue.code === "unrecognized_keys" ? "is not a field of a backup-verify request (send {} or {\"backup_run_id\": n})"
      : field === "(body)" ? "must be a JSON object" : "must be a positive integer (a lifeboat.backup_runs id)";
    return { ok: false, problem: { field, message } };
  }
  return { ok: true, value: { backupRunId: r.data.backup_run_id } };
}
