/// <reference lib="dom" />
// The status page in a real browser: Debian's Chromium, driven by playwright-core (no
// browser download), loads the page the real function serves through the gateway over
// seeded history, and the charts must render with their data points. The screenshot is kept
// in tests/artifacts/status-page.png. `lifeboat report --html` must write the same page.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { db, functionUrl, repoRoot, run, stackEnv } from "../../harness/stack.ts";
import { removeStatusHistory, seedStatusHistory, withStatusIsolation } from "../support/status_seed.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface ChartInfo {
  id: string;
  width: number;
  height: number;
  points: number;
  bars: number;
  reference: boolean;
  values: number[];
}

Deno.test("status page: Chromium renders every chart with its data points", async () => {
  const sql = db();
  const userDataDir = await Deno.makeTempDir({ prefix: "lifeboat-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
  try {
    // Only the seeded history: other test files leave backups, failed drills and alerts behind.
    await withStatusIsolation(sql, async () => {
      const seeded = await seedStatusHistory(sql, 30, 8);
      await new Promise((r) => setTimeout(r, 1100)); // past the function's 1 s report cache
      const page = await context.newPage();
      const origin = new URL(stackEnv("SUPABASE_URL")).origin;
      const foreign: string[] = [];
      page.on("request", (r) => {
        if (!r.url().startsWith(origin)) foreign.push(r.url());
      });
      const url = `${functionUrl("backup-status")}?format=html&token=${encodeURIComponent(stackEnv("LIFEBOAT_STATUS_TOKEN"))}`;
      const res = await page.goto(url, { waitUntil: "load" });
      assert.equal(res?.status(), 200);
      assert.equal(await page.title(), "Lifeboat backup status");
      assert.equal((await page.locator("#verdict strong").textContent())?.trim(), "Recoverable");

      const charts: ChartInfo[] = await page.evaluate(() =>
        Array.from(document.querySelectorAll("figure.chart")).map((f) => {
          const svg = f.querySelector("svg")!;
          const box = svg.getBoundingClientRect();
          return {
            id: f.id,
            width: box.width,
            height: box.height,
            points: f.querySelectorAll("circle.point").length,
            bars: f.querySelectorAll("rect.bar").length,
            reference: f.querySelector("line.reference") !== null,
            values: Array.from(f.querySelectorAll("[data-v]")).map((e) => Number(e.getAttribute("data-v"))),
          };
        })
      );
      const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
      assert.deepEqual(Object.keys(byId).sort(), ["chart-age", "chart-drills", "chart-duration", "chart-size"]);
      for (const c of charts) {
        assert.ok(c.width > 200 && c.height > 50, `${c.id} has no size: ${c.width}x${c.height}`);
        assert.ok(c.values.every((v) => Number.isFinite(v) && v >= 0), `${c.id} has bad values`);
      }
      // Other tests' backups may exist too: at least the seeded ones.
      assert.ok(byId["chart-size"].points >= seeded.backups, `size points: ${byId["chart-size"].points}`);
      assert.ok(byId["chart-duration"].points >= seeded.backups);
      // Age: one peak per interval between backups, plus now; the RPO is drawn.
      assert.ok(byId["chart-age"].points >= seeded.backups);
      assert.ok(byId["chart-age"].reference, "the RPO line is drawn");
      assert.ok(byId["chart-age"].values.every((v) => v <= 86400 * 1.2), "daily backups stay near the RPO");
      assert.ok(byId["chart-drills"].bars >= seeded.drills, `drill bars: ${byId["chart-drills"].bars}`);
      assert.ok(byId["chart-drills"].reference, "the RTO line is drawn");
      assert.ok((await page.locator("#chart-drills rect.bar.bad").count()) >= 1, "the failed drill is marked");
      // The line charts draw a path through their points, inside the plot.
      const pathBox = await page.locator("#chart-size path.series").boundingBox();
      assert.ok(pathBox && pathBox.width > 100 && pathBox.height > 5, "the size line has a visible extent");
      // Retention: seven filled daily slots.
      assert.ok((await page.locator("#retention .slots").first().locator(".slot.filled").count()) === 7);
      assert.deepEqual(foreign, [], "the page requested nothing from another origin");

      await Deno.mkdir(`${repoRoot}/tests/artifacts`, { recursive: true });
      await page.screenshot({ path: `${repoRoot}/tests/artifacts/status-page.png`, fullPage: true });
      const png = await Deno.stat(`${repoRoot}/tests/artifacts/status-page.png`);
      assert.ok(png.size > 20_000, "the screenshot has content");

      // The CLI writes the same page (same sections and charts) from the database directly.
      const file = `${userDataDir}/report.html`;
      const out = await run(`${repoRoot}/scripts/lifeboat`, ["report", "--html", file], {
        SUPABASE_DB_URL: stackEnv("SUPABASE_DB_URL"),
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "/root",
      });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /^RECOVERABLE/);
      assert.match(out.stdout, /status page: \//);
      const html = await Deno.readTextFile(file);
      await page.goto(`file://${file}`);
      const cliCharts = await page.evaluate(() => Array.from(document.querySelectorAll("figure.chart")).map((f) => f.id));
      assert.deepEqual(cliCharts.sort(), Object.keys(byId).sort());
      assert.ok(html.startsWith("<!doctype html>") && !/<script|<link|src=/i.test(html));

      const json = await run(`${repoRoot}/scripts/lifeboat`, ["report", "--json"], {
        SUPABASE_DB_URL: stackEnv("SUPABASE_DB_URL"),
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "/root",
      });
      assert.equal(json.code, 0, json.stderr);
      assert.equal(JSON.parse(json.stdout).recoverable, true);
      const bad = await run(`${repoRoot}/scripts/lifeboat`, ["report", "--pdf"], { PATH: Deno.env.get("PATH") ?? "" });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /usage: lifeboat report/);
    });
  } finally {
    await context.close();
    await removeStatusHistory(sql);
    await sql.end();
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  }
});
