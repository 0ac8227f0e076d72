// Mints the local stack's API keys as the Supabase CLI does: a random JWT secret, legacy
// HS256 anon and service_role JWTs signed with it, and new-style sb_publishable_/sb_secret_
// keys. Prints them as a sourceable env file. Node is used because it is on every machine
// before Deno is installed; nothing here needs a library.
"use strict";
const crypto = require("node:crypto");

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const secret = crypto.randomBytes(32).toString("base64url");
const now = Math.floor(Date.now() / 1000);
function jwt(role) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ iss: "supabase-local", role, iat: now, exp: now + 10 * 365 * 86400 }));
  const sig = crypto.createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${sig}`;
}
const secretKey = `sb_secret_${crypto.randomBytes(24).toString("base64url")}`;
const publishableKey = `sb_publishable_${crypto.randomBytes(24).toString("base64url")}`;
const lines = {
  LIFEBOAT_JWT_SECRET: secret,
  SUPABASE_ANON_KEY: jwt("anon"),
  SUPABASE_SERVICE_ROLE_KEY: jwt("service_role"),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: secretKey }),
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: publishableKey }),
  LIFEBOAT_STATUS_TOKEN: `lbst_${crypto.randomBytes(24).toString("base64url")}`,
};
for (const [k, v] of Object.entries(lines)) process.stdout.write(`${k}='${v}'\n`);
