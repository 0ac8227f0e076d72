// The local gateway behaves as Supabase's does in front of functions: path handling and
// verify_jwt. A second gateway runs here with its own config so verify_jwt can be switched on.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { denoBin, freePort, repoRoot, stackEnv, waitFor } from "../../harness/stack.ts";

async function withGateway(configToml: string, fn: (base: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  await Deno.writeTextFile(`${dir}/config.toml`, configToml);
  const map = JSON.parse(await Deno.readTextFile(`${stackEnv("LIFEBOAT_STACK_DIR")}/functions.json`));
  await Deno.writeTextFile(`${dir}/functions.json`, JSON.stringify({ ...map, echoless: map.health }));
  const child = new Deno.Command(denoBin, {
    args: ["run", "--quiet", "-A", `${repoRoot}/scripts/stack/gateway.ts`],
    env: {
      LIFEBOAT_API_PORT: String(port),
      LIFEBOAT_CONFIG_TOML: `${dir}/config.toml`,
      LIFEBOAT_FUNCTIONS_MAP: `${dir}/functions.json`,
      LIFEBOAT_JWT_SECRET: stackEnv("LIFEBOAT_JWT_SECRET"),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${base}/`).then(async (r) => (await r.body?.cancel(), true))), 20_000, "gateway");
    await fn(base);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

const CONFIG = `
[functions.health]
verify_jwt = true

[functions.echoless]
enabled = false
`;

Deno.test("gateway: verify_jwt requires a valid JWT and rejects sb_ keys, as hosted Supabase does", async () => {
  await withGateway(CONFIG, async (base) => {
    const url = `${base}/functions/v1/health?probe=liveness`;
    let r = await fetch(url);
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { code: 401, message: "Missing authorization header" });

    const secret = JSON.parse(stackEnv("SUPABASE_SECRET_KEYS")).default;
    for (const bad of [`Bearer ${secret}`, "Bearer not.a.jwt", "Basic abc"]) {
      r = await fetch(url, { headers: { authorization: bad } });
      assert.equal(r.status, 401, bad);
      assert.deepEqual(await r.json(), { code: 401, message: "Invalid JWT" });
    }

    // Signed with another secret: refused.
    const forged = await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode("not-the-project-secret-at-all-000000"));
    r = await fetch(url, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(r.status, 401);
    await r.body?.cancel();

    // The project's anon and service_role JWTs pass.
    for (const key of ["SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"]) {
      r = await fetch(url, { headers: { authorization: `Bearer ${stackEnv(key)}` } });
      assert.equal(r.status, 200, key);
      assert.equal((await r.json()).status, "pass");
    }

    // OPTIONS skips verification (CORS preflight).
    r = await fetch(url, { method: "OPTIONS" });
    assert.equal(r.status, 204);
    await r.body?.cancel();
  });
});

Deno.test("gateway: functions see /<name>/rest, disabled and unknown functions are 404", async () => {
  await withGateway("[functions.health]\nverify_jwt = false\n[functions.echoless]\nenabled = false\n", async (base) => {
    // The health function answers 404 for sub-paths it does not serve: proof it saw /health/x.
    let r = await fetch(`${base}/functions/v1/health/x`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error, "not_found");
    r = await fetch(`${base}/functions/v1/health?probe=liveness`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
    for (const path of ["/functions/v1/echoless", "/functions/v1/nope", "/rest/v1/products"]) {
      r = await fetch(`${base}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal((await r.json()).code, 404);
    }
  });
});
