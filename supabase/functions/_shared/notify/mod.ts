/**
 * Lifeboat notifications: channel requests, webhook signatures and the dispatcher.
 * @module
 */
export * from "./types.ts";
export { buildRequest, discordRequest, emailRequest, pingRequest, slackRequest, webhookBody, webhookRequest } from "./channels.ts";
export { signWebhook, verifyWebhook } from "./signature.ts";
export { resolveRef, SecretRefError } from "./secrets.ts";
export { type DispatchOptions, dispatchNotifications, type DispatchSummary } from "./dispatch.ts";
