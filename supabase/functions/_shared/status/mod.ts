/**
 * The status report and its renderings: JSON, the HTML page, the badge and Prometheus, with the
 * redaction the read-only status token gets.
 * Code outside this folder imports only this module.
 * @module
 */
export { badgeMessage, renderBadge } from "./badge.ts";
export { shortDuration } from "./format.ts";
export { renderStatusPage } from "./html.ts";
export { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./prometheus.ts";
export { redactForToken } from "./redact.ts";
export { loadStatusReport } from "./report.ts";
export type { StatusReport } from "./report.ts";
export { streamGauges, streamSection } from "./stream.ts";
export type { StreamStatus } from "./stream.ts";
