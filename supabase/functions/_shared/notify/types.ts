/**
 * What the notification engine passes around: a claimed delivery (from
 * `lifeboat.claim_notifications()`) and the HTTP request a channel makes of it.
 * @module
 */

/** The channel kinds Lifeboat can send to. */
export type ChannelKind = "slack" | "discord" | "webhook" | "email" | "healthchecks";

/** What a delivery says. */
export type DeliveryKind = "firing" | "reminder" | "resolved" | "ping_start" | "ping_success" | "ping_fail" | "test";

/** An alert as a notification carries it (lifeboat.alert_message()). */
export interface AlertMessage {
  alert_id: number;
  rule: string;
  severity: "critical" | "warning" | "info";
  state: "firing" | "resolved";
  dedup_key: string;
  summary: string;
  first_seen: string;
  last_seen: string;
  resolved_at: string | null;
  occurrences: number;
  incident_id: number | null;
  remediation: string | null;
}

/** A cron run as a healthchecks ping carries it. */
export interface JobRunMessage {
  job: string;
  runid: number;
  status: string;
  start_time: string | null;
  end_time: string | null;
}

/** A claimed delivery with its channel (references only, never secrets). */
export interface Delivery {
  id: number;
  attempt: number;
  kind: DeliveryKind;
  event: AlertMessage | JobRunMessage | Record<string, unknown>;
  created_at: string;
  channel_name: string;
  channel_kind: ChannelKind;
  target: string;
  secret_ref: string | null;
  config: Record<string, unknown>;
}

/** The resolved values of a channel's references. */
export interface ChannelSecrets {
  /** The URL (webhook, email API base, ping base). */
  target: string;
  /** The signing secret or API key, if the channel has one. */
  secret?: string;
}

/** An HTTP request to make. */
export interface OutboundRequest {
  url: string;
  method: "POST" | "GET";
  headers: Record<string, string>;
  body: string;
}
