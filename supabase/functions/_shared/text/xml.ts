/**
 * Escaping text for XML, HTML and SVG.
 * @module
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for XML, HTML and SVG (element content and attribute values). */
export function escapeXml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}
