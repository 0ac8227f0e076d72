/**
 * Text helpers shared by the engine, the functions and the CLI.
 * @module
 */
export { escapeXml } from "./xml.ts";
export { formatBytes, type FormatBytesOptions } from "./bytes.ts";
