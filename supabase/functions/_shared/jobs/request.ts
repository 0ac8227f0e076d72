/**
 * The body `backup-export` accepts, validated with zod. Unknown fields are rejected, and
 * every error names the field at fault, so a caller can fix the request without guessing.
 * @module
 */
import { z } from "zod";
import { parseTableName, type TableRef } from "../export/mod.ts";

// Postgres text cannot hold a NUL: refused here, it would reach the database as an SQLSTATE.
const noNul = (v: string) => !v.includes("\u0000");
const NUL_MESSAGE = "must not contain a NUL character";
const tableName = z.string({ error: "must be a table name (a string)" }).trim().min(1, "must not be empty")
  .max(300, "is too long").refine(noNul, NUL_MESSAGE);

const bucketId = z.string({ error: "must be a bucket id (a string)" }).trim().min(1, "must not be empty")
  .max(100, "is too long").refine(noNul, NUL_MESSAGE);

/** The request body schema: `{ mode, tables?, buckets?, label?, resume? }`. */
export const ExportRequestSchema = z.strictObject({
  mode: z.enum(["full", "tables", "files"], { error: 'must be "full", "tables" or "files"' }),
  tables: z.array(tableName, { error: "must be an array of table names" }).min(1, "must name at least one table")
    .max(1000, "names too many tables (at most 1000)").optional(),
  /** Only these buckets' files (mode "files"; default every bucket). */
  buckets: z.array(bucketId, { error: "must be an array of bucket ids" }).min(1, "must name at least one bucket")
    .max(1000, "names too many buckets (at most 1000)").optional(),
  label: z.string({ error: "must be a string" }).max(200, "is too long (at most 200 characters)")
    .refine(noNul, NUL_MESSAGE).optional(),
  /** A job id to continue, or `true` for "the unfinished job of this target, if any". */
  resume: z.union([z.uuid({ error: "must be a job id (uuid) or true" }), z.literal(true)], {
    error: "must be a job id (uuid) or true",
  }).optional(),
});

/** A valid request, with table names parsed. */
export interface ExportRequest {
  mode: "full" | "tables" | "files";
  tables: TableRef[];
  /** Mode "files": only these buckets (empty: every bucket). */
  buckets: string[];
  label: string | null;
  resume: string | true | null;
}

/** A request that failed validation: the field at fault and why. */
export interface RequestProblem {
  field: string;
  message: string;
}

/** Validates a parsed JSON body. */
export function parseExportRequest(body: unknown): { ok: true; value: ExportRequest } | { ok: false; problem: RequestProblem } {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, problem: { field: "(body)", message: "must be a JSON object like {\"mode\":\"full\"}" } };
  }
  const r = ExportRequestSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0];
      return { ok: false, problem: { field: key, message: "is not a known field (allowed: mode, tables, buckets, label, resume)" } };
    }
    const field = issue.path.length ? issue.path.map(String).join(".") : "(body)";
    // zod does not report the input: "required" only when the field is really absent.
    const absent = issue.path.length === 1 && !Object.hasOwn(body, issue.path[0] as PropertyKey);
    const message = absent ? "is required" : issue.message;
    return { ok: false, problem: { field, message } };
  }
  const v = r.data;
  // A resumed job keeps the tables it was planned with.
  if (v.mode === "tables" && !v.tables && v.resume === undefined) {
    return { ok: false, problem: { field: "tables", message: 'is required when mode is "tables"' } };
  }
  if (v.mode !== "tables" && v.tables) {
    return { ok: false, problem: { field: "tables", message: 'is only allowed when mode is "tables"' } };
  }
  if (v.mode !== "files" && v.buckets) {
    return { ok: false, problem: { field: "buckets", message: 'is only allowed when mode is "files"' } };
  }
  const tables: TableRef[] = [];
  for (const [i, t] of (v.tables ?? []).entries()) {
    try {
      tables.push(parseTableName(t));
    } catch (err) {
      return { ok: false, problem: { field: `tables.${i}`, message: (err as Error).message } };
    }
  }
  return { ok: true, value: { mode: v.mode, tables, buckets: [...new Set(v.buckets ?? [])], label: v.label ?? null, resume: v.resume ?? null } };
}
