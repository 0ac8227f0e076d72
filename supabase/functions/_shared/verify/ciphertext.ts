/**
 * What can be checked on a stored object without the key: the age header (version line,
 * recipient stanzas, MAC line) of encrypted objects, or the codec's magic number (gzip or
 * zstd) of unencrypted ones.
 * @module
 */
import { sniffCompression } from "../crypto/mod.ts";

/** How many bytes from the start of an object {@linkcode inspectAgeHeader} needs at most. */
export const HEADER_PROBE_BYTES = 16 * 1024;

/** The parsed shape of an age header. */
export interface AgeHeaderInfo {
  /** Stanza types in order, e.g. ["X25519", "X25519"]. */
  stanzas: string[];
  /** X25519 stanzas: one per recipient the file was encrypted to. */
  x25519: number;
  /** Bytes of header, up to and including the MAC line. */
  headerBytes: number;
}

const AGE_V1 = "age-encryption.org/v1\n";

/**
 * Parses the age v1 header at the start of `head`. Returns a problem string instead when the
 * bytes are not an age file or the header is cut short.
 */
export function inspectAgeHeader(head: Uint8Array): AgeHeaderInfo | string {
  const text = new TextDecoder("latin1").decode(head);
  if (!text.startsWith(AGE_V1)) {
    const codec = sniffCompression(head);
    if (codec) return `the object is plain ${codec}, not age-encrypted`;
    return "the object does not start with an age v1 header";
  }
  const stanzas: string[] = [];
  let pos = AGE_V1.length;
  for (;;) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0) return "the age header is truncated";
    const line = text.slice(pos, nl);
    pos = nl + 1;
    if (line.startsWith("--- ")) {
      if (!/^--- [A-Za-z0-9+/]{43}$/.test(line)) return "the age header MAC line is malformed";
      break;
    }
    if (!line.startsWith("-> ")) return "the age header has a line that is neither a stanza nor the MAC";
    const args = line.slice(3).split(" ");
    stanzas.push(args[0]);
    // Stanza bodies are base64 lines of 64 characters; a shorter line ends the body.
    for (;;) {
      const end = text.indexOf("\n", pos);
      if (end < 0) return "the age header is truncated";
      const body = text.slice(pos, end);
      pos = end + 1;
      if (!/^[A-Za-z0-9+/]*$/.test(body) || body.length > 64) return "an age stanza body is malformed";
      if (body.length < 64) break;
    }
  }
  return { stanzas, x25519: stanzas.filter((s) => s === "X25519").length, headerBytes: pos };
}

