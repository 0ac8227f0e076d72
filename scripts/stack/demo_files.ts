/**
 * The demo app's files: for each user an avatar in the public `avatars` bucket and a few
 * uploads in the private `uploads` bucket, all under the user's id as the first folder (the
 * layout the storage.objects policies of supabase/seed.sql expect). Every byte is derived from
 * the user id, so a re-run uploads the same files. The images are real PNGs (uncompressed
 * deflate, so the encoding is the same on every runtime), the PDF a real one-page PDF.
 * @module
 */

/** One file to put in Storage. */
export interface DemoFile {
  bucket: "avatars" | "uploads";
  path: string;
  contentType: string;
  bytes: Uint8Array;
}

/** The buckets the demo app uses, as `createBucket`/`updateBucket` options. */
export const DEMO_BUCKETS = new Map<string, { public: boolean; fileSizeLimit?: number; allowedMimeTypes?: string[] }>([
  ["avatars", { public: true }],
  ["uploads", {
    public: false,
    fileSizeLimit: 5 * 1024 * 1024,
    allowedMimeTypes: ["image/png", "image/jpeg", "application/pdf", "text/plain"],
  }],
]);

/**
 * The files for these users (folder names, usually `auth.users` ids, in a stable order). The
 * first user also gets a scan of about 1.5 MB, the size that makes a backup stream a file.
 */
export function demoFiles(folders: string[]): DemoFile[] {
  const files: DemoFile[] = [];
  folders.forEach((folder, i) => {
    const rand = prng(folder);
    files.push({ bucket: "avatars", path: `${folder}/avatar.png`, contentType: "image/png", bytes: avatarPng(rand) });
    files.push({
      bucket: "uploads",
      path: `${folder}/notes.txt`,
      contentType: "text/plain",
      bytes: new TextEncoder().encode(`Notes of ${folder}\n\n- order #${1000 + i}: paid\n- ship to the usual address\n`),
    });
    files.push({
      bucket: "uploads",
      path: `${folder}/invoices/invoice-2026-${String(i + 1).padStart(3, "0")}.pdf`,
      contentType: "application/pdf",
      bytes: invoicePdf(`Invoice 2026-${String(i + 1).padStart(3, "0")} for ${folder}`),
    });
    if (i === 0) {
      files.push({ bucket: "uploads", path: `${folder}/scans/receipt.png`, contentType: "image/png", bytes: noisePng(rand, 512, 1000) });
    }
  });
  return files;
}

/** xorshift32 seeded from a string: deterministic bytes. */
function prng(seed: string): () => number {
  let x = 2166136261;
  for (const c of seed) x = Math.imul(x ^ c.charCodeAt(0), 16777619) >>> 0;
  x ||= 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x & 0xff;
  };
}

/** A 64×64 avatar: one colour from the seed, a lighter disc in the middle. */
function avatarPng(rand: () => number): Uint8Array {
  const [r, g, b] = [rand(), rand(), rand()];
  return png(64, 64, (x, y) => {
    const inside = (x - 32) ** 2 + (y - 26) ** 2 < 14 ** 2 || ((x - 32) ** 2 + (y - 70) ** 2 < 30 ** 2);
    return inside ? [255 - (255 - r) / 3, 255 - (255 - g) / 3, 255 - (255 - b) / 3] : [r, g, b];
  });
}

function noisePng(rand: () => number, width: number, height: number): Uint8Array {
  return png(width, height, () => [rand(), rand(), rand()]);
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) for (const byte of p) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function be32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** zlib data with stored (uncompressed) deflate blocks. */
function zlibStored(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x78, 0x01])];
  for (let at = 0; at < data.length || at === 0; at += 65535) {
    const block = data.subarray(at, at + 65535);
    const last = at + 65535 >= data.length ? 1 : 0;
    parts.push(new Uint8Array([last, block.length & 0xff, block.length >>> 8, ~block.length & 0xff, (~block.length >>> 8) & 0xff]));
    parts.push(block);
    if (data.length === 0) break;
  }
  let a = 1, b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  parts.push(be32(((b << 16) | a) >>> 0));
  return concat(parts);
}

/** An 8-bit RGB PNG whose pixels `pixel(x, y)` gives. */
function png(width: number, height: number, pixel: (x: number, y: number) => number[]): Uint8Array {
  const raw = new Uint8Array(height * (1 + width * 3));
  let at = 0;
  for (let y = 0; y < height; y++) {
    raw[at++] = 0; // filter: none
    for (let x = 0; x < width; x++) for (const v of pixel(x, y)) raw[at++] = v;
  }
  const chunk = (type: string, data: Uint8Array) => {
    const t = new TextEncoder().encode(type);
    return concat([be32(data.length), t, data, be32(crc32([t, data]))]);
  };
  const header = concat([be32(width), be32(height), new Uint8Array([8, 2, 0, 0, 0])]);
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlibStored(raw)),
    chunk("IEND", new Uint8Array()),
  ]);
}

/** A one-page PDF showing one line of text, with a correct cross-reference table. */
function invoicePdf(line: string): Uint8Array {
  const text = line.replace(/[()\\]/g, "");
  const stream = `BT /F1 14 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let body = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) body += `${String(off).padStart(10, "0")} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(body);
}
