/**
 * Server-side copies (CopyObject): the bytes stay in the service. Used to attach a multipart
 * upload's sha256 in place (metadata REPLACE, multipart.ts) and by {@link S3Store.copy} to give
 * a stored object a second key (metadata COPY: the sha256 and content type come along).
 * @module
 */
import type { S3Client } from "./client.ts";

/** One CopyObject of `from` onto `to`, with `headers` (directive, metadata, class). */
export async function sendCopy(
  client: S3Client,
  name: string,
  from: string,
  to: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<void> {
  const text = await client.send({ name, key: to }, {
    method: "PUT",
    key: to,
    headers: { "x-amz-copy-source": client.copySource(from), ...headers },
    signal,
    read: "text",
  });
  // S3 may answer 200 and report the failure in the body.
  if (/<Error>/.test(text)) throw client.errorFromXml(200, text, { name, key: to });
}

/** CopyObject's limit: bigger objects are copied by a read and a put. */
export const MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024;
