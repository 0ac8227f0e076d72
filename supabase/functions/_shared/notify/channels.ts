/**
 * Turns a delivery into the HTTP request its channel expects: Slack and Discord incoming
 * webhooks, a generic JSON webhook signed with HMAC-SHA256, a Resend-style email API, and
 * healthchecks.io-style pings. Pure functions (plus the signature), so tests can compare
 * the exact bytes a receiver gets.
 * @module
 */
import type { AlertMessage, ChannelSecrets, Delivery, JobRunMessage, OutboundRequest } from "./types.ts";
import { alertFacts, alertText, alertTitle, stateWord } from "./message.ts";
import { signWebhook } from "./signature.ts";

const UA = "Lifeboat-Notify/1";
const COLORS = { firing: 0xcf222e, reminder: 0xbf8700, resolved: 0x1a7f37, test: 0x0969da } as const;

function json(url: string, body: unknown, headers: Record<string, string> = {}): OutboundRequest {
  return {
    url,
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": UA, ...headers },
    body: JSON.stringify(body),
  };
}

// Slack mrkdwn treats &, < and > as control characters.
function slackEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Slack incoming webhook: `text` (notifications, fallback) plus Block Kit sections. */
export function slackRequest(d: Delivery, s: ChannelSecrets): OutboundRequest {
  const a = d.event as AlertMessage;
  const title = alertTitle(d.kind, a);
  return json(s.target, {
    text: slackEscape(title),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${stateWord(d.kind)}* · ${a.severity} · \`${slackEscape(a.rule)}\`\n${slackEscape(a.summary)}` } },
      {
        type: "context",
        elements: alertFacts(d.kind, a).map(([k, v]) => ({ type: "mrkdwn", text: `*${k}:* ${slackEscape(v)}` })),
      },
    ],
  });
}

/** Discord webhook: one embed, mentions disabled (a summary must never ping @everyone). */
export function discordRequest(d: Delivery, s: ChannelSecrets): OutboundRequest {
  const a = d.event as AlertMessage;
  const color = d.kind === "resolved" ? COLORS.resolved : d.kind === "reminder" ? COLORS.reminder : d.kind === "test" ? COLORS.test : COLORS.firing;
  return json(s.target, {
    username: "Lifeboat",
    content: alertTitle(d.kind, a).slice(0, 2000),
    embeds: [{
      title: `${stateWord(d.kind)}: ${a.rule} (${a.severity})`.slice(0, 256),
      description: a.summary.slice(0, 4096),
      color,
      timestamp: d.kind === "resolved" && a.resolved_at ? a.resolved_at : a.last_seen,
      fields: alertFacts(d.kind, a).map(([name, value]) => ({ name, value: value.slice(0, 1024), inline: name !== "what to do" })),
    }],
    allowed_mentions: { parse: [] },
  });
}

/** The JSON body of a generic webhook (stable across retries; the time is in a header). */
export function webhookBody(d: Delivery): string {
  const type = d.kind.startsWith("ping_") ? `job.${d.kind.slice(5)}` : `alert.${d.kind}`;
  return JSON.stringify({ version: 1, type, delivery_id: d.id, created_at: d.created_at, data: d.event });
}

/**
 * Generic webhook: JSON body, signed as `x-lifeboat-signature: sha256=<hex>` over
 * `<timestamp>.<body>` with `x-lifeboat-timestamp` (Unix seconds), so a receiver can reject
 * replays outside its tolerance; `x-lifeboat-delivery` lets it drop duplicates.
 */
export async function webhookRequest(d: Delivery, s: ChannelSecrets, now: Date): Promise<OutboundRequest> {
  if (!s.secret) throw new Error(`channel ${d.channel_name} has no signing secret (secret_ref)`);
  const body = webhookBody(d);
  const ts = Math.floor(now.getTime() / 1000);
  return {
    url: s.target,
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": UA,
      "x-lifeboat-delivery": String(d.id),
      "x-lifeboat-timestamp": String(ts),
      "x-lifeboat-signature": await signWebhook(s.secret, ts, body),
    },
    body,
  };
}

function emailHtml(d: Delivery, a: AlertMessage): string {
  const esc = (t: string) => t.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  const rows = alertFacts(d.kind, a).map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
  return `<h2>${esc(alertTitle(d.kind, a))}</h2><table>${rows}</table>`;
}

/** Resend-style email API: `POST <base>/emails` with a bearer key and an idempotency key. */
export function emailRequest(d: Delivery, s: ChannelSecrets): OutboundRequest {
  if (!s.secret) throw new Error(`channel ${d.channel_name} has no API key (secret_ref)`);
  const a = d.event as AlertMessage;
  const cfg = d.config as { from?: string; to?: string[] };
  return json(`${s.target.replace(/\/+$/, "")}/emails`, {
    from: cfg.from,
    to: cfg.to,
    subject: alertTitle(d.kind, a).slice(0, 200),
    text: alertText(d.kind, a),
    html: emailHtml(d, a),
  }, { authorization: `Bearer ${s.secret}`, "idempotency-key": `lifeboat-delivery-${d.id}` });
}

/**
 * healthchecks.io-style dead man's switch: `<base>/<job>/start` when a run starts,
 * `<base>/<job>` when it succeeds, `<base>/<job>/fail` when it fails (base is a ping URL
 * with a project ping key; the job name is the check's slug). `config.create` adds
 * `?create=1` so checks are created on first ping.
 */
export function pingRequest(d: Delivery, s: ChannelSecrets): OutboundRequest {
  const run = d.event as JobRunMessage;
  const suffix = d.kind === "ping_start" ? "/start" : d.kind === "ping_fail" ? "/fail" : "";
  const q = (d.config as { create?: boolean }).create ? "?create=1" : "";
  return {
    url: `${s.target.replace(/\/+$/, "")}/${encodeURIComponent(run.job)}${suffix}${q}`,
    method: "POST",
    headers: { "content-type": "text/plain; charset=utf-8", "user-agent": UA },
    body: `${run.job} run ${run.runid}: ${run.status}\n`,
  };
}

/** The request for any delivery. */
export async function buildRequest(d: Delivery, s: ChannelSecrets, now: Date): Promise<OutboundRequest> {
  switch (d.channel_kind) {
    case "slack":
      return slackRequest(d, s);
    case "discord":
      return discordRequest(d, s);
    case "webhook":
      return await webhookRequest(d, s, now);
    case "email":
      return emailRequest(d, s);
    case "healthchecks":
      return pingRequest(d, s);
  }
  throw new Error(`unknown channel kind '${d.channel_kind}'`);
}
