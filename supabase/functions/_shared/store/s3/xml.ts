/**
 * The little XML the S3 API needs: reading values out of replies, and the
 * CompleteMultipartUpload request body.
 *
 * S3 replies are small, flat and machine-generated: a full XML parser (none
 * is built into Deno or the Edge runtime) would buy nothing here.
 * @module
 */
import { escapeXml } from "../../text/mod.ts";

/** The text of the first `<tag>…</tag>` in `xml`, unescaped. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = xml.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`));
  return m ? unescapeXml(m[1]) : undefined;
}

/** The raw contents of every `<tag>…</tag>` in `xml`. */
export function xmlBlocks(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))]
    .map((m) => m[1]);
}

/** The body of CompleteMultipartUpload: the parts' ETags, numbered from 1. */
export function completeMultipartXml(etags: readonly string[]): string {
  return "<CompleteMultipartUpload>" +
    etags.map((etag, i) =>
      `<Part><PartNumber>${i + 1}</PartNumber><ETag>${
        escapeXml(etag)
      }</ETag></Part>`
    ).join("") +
    "</CompleteMultipartUpload>";
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g,
    (_, e: string) => {
      switch (e) {
        case "amp":
          return "&";
        case "lt":
          return "<";
        case "gt":
          return ">";
        case "quot":
          return '"';
        case "apos":
          return "'";
        default:
          return String.fromCodePoint(
            e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
          );
      }
    },
  );
}
