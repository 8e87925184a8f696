// Browser test of the web frontend in headless Chromium (Debian's package, driven by
// playwright-core; no downloaded browsers). Driven by tests/clients/test_browser.py, which
// starts the API and two static servers and checks the server's side afterwards.
//
// Environment: API_URL, WEB_URL (an origin in the API's CORS_ORIGINS), BLOCKED_WEB_URL (the
// same files from an origin that is not), USER_EMAIL, USER_PASSWORD, BOOK_TITLE, SEARCH,
// PROBE (a search term that marks the blocked page's request), optional SCREENSHOT_DIR.
// Prints one JSON line with what it saw (the test checks it); exits non-zero when a step
// times out.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const API = env("API_URL");
const WEB = env("WEB_URL");
const BLOCKED_WEB = env("BLOCKED_WEB_URL");
const SHOTS = process.env.SCREENSHOT_DIR;
const TIMEOUT = 15_000;

const profile = mkdtempSync(join(tmpdir(), "bookstore-chromium-")); // a fresh profile
const seen = {};
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage", // containers often have a tiny /dev/shm
    ],
  });
  context.setDefaultTimeout(TIMEOUT);
  await orderAndPay();
  await refusedOrigin();
} catch (error) {
  seen.failure = String(error?.stack || error);
  process.exitCode = 1;
  const pages = context?.pages() ?? [];
  for (const [n, page] of pages.entries()) {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `failure-${n}.png`) }).catch(() => {});
  }
} finally {
  console.log(JSON.stringify(seen));
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}

function watch(page, label) {
  const log = { console: [], failed: [], errors: [] };
  page.on("console", (msg) => log.console.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (error) => log.errors.push(String(error)));
  page.on("requestfailed", (req) => log.failed.push(`${req.method()} ${req.url()} ${req.failure()?.errorText}`));
  seen[label] = log;
  return log;
}

async function orderCard(page) {
  return {
    status: await page.textContent("#order-status"),
    total: await page.textContent("#order-total"),
    exchange: await page.textContent("#order-exchange"),
    requestId: await page.textContent("#order-request-id"),
    location: await page.locator("#order-location").textContent({ timeout: 1000 }).catch(() => null),
    actions: await page.locator("#order [data-action]").evaluateAll((els) => els.map((el) => el.dataset.action)),
  };
}

async function statusBar(page) {
  return {
    request: await page.textContent("#status-request"),
    requestId: await page.textContent("#status-request-id"),
    extra: await page.textContent("#status-extra"),
  };
}

async function orderAndPay() {
  const page = context.pages()[0] ?? (await context.newPage());
  const log = watch(page, "allowed");
  await page.goto(`${WEB}/?api=${encodeURIComponent(API)}`);
  await page.waitForSelector('body[data-books="loaded"]');
  seen.apiBase = await page.textContent("#api-base");

  // Log in: the page asks the API for tokens, then for the profile with the bearer token.
  await page.fill("#login input[name=email]", env("USER_EMAIL"));
  await page.fill("#login input[name=password]", env("USER_PASSWORD"));
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#whoami:not([hidden])");
  seen.whoami = await page.textContent("#whoami-name");

  // Search (q=), then find the book on the page.
  await page.fill("#search input[name=q]", env("SEARCH"));
  await page.click("#search button[type=submit]");
  await page.waitForSelector(`body[data-books="loaded"][data-list*="q=${env("SEARCH")}"]`);
  const row = page.locator("#books tr", { hasText: env("BOOK_TITLE") });
  await row.waitFor();
  seen.searchRows = await page.locator("#books tr[data-book]").count();
  seen.searchUrl = page.url();

  // ETag: the second look at the book is a conditional GET answered 304.
  await row.locator("button.link").click();
  await page.waitForSelector("#book-detail:not([hidden])");
  await row.locator("button.link").click();
  await page.locator("#book-detail", { hasText: "304 Not Modified" }).waitFor();
  seen.bookDetail = await page.textContent("#book-detail");

  // Order two copies: a preflighted POST with Authorization and Idempotency-Key. The first
  // answer is lost on the way back (the server placed the order; the page never hears of it).
  let dropped = null;
  await page.route(`${API}/v1/orders`, async (route) => {
    if (route.request().method() !== "POST" || dropped) return route.fallback();
    const response = await route.fetch();
    dropped = { status: response.status(), requestId: response.headers()["x-request-id"] };
    return route.abort("connectionreset");
  });
  const stock = row.locator("td:nth-child(6)");
  seen.stockBefore = await stock.textContent();
  await row.locator("input.qty").fill("2");
  await row.locator("button[data-order]").click();
  const retry = page.locator("#message .retry button");
  await retry.waitFor();
  seen.dropped = { ...dropped, message: await page.textContent("#message") };
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "retry.png"), fullPage: true });
  await retry.click(); // the same Idempotency-Key: the server replays, no second order
  await page.waitForSelector("#order-status");
  seen.placed = { ...(await orderCard(page)), message: await page.textContent("#message") };
  // The list is reloaded, and the ordered book's stock read from the book itself (exact).
  await page.waitForFunction(
    ([title, before]) => [...document.querySelectorAll("#books tr")].some((tr) =>
      tr.textContent.includes(title) && tr.children[5].textContent !== before),
    [env("BOOK_TITLE"), seen.stockBefore],
  );
  seen.stockAfter = await stock.textContent();
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "ordered.png"), fullPage: true });

  await page.click('button[data-action="pay"]');
  await page.waitForSelector("#order-status.paid");
  await page.locator("#orders .badge.paid").waitFor();
  seen.paid = { ...(await orderCard(page)), orders: await page.textContent("#orders") };
  seen.bar = await statusBar(page);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "paid.png"), fullPage: true });
}

async function refusedOrigin() {
  const page = await context.newPage();
  const log = watch(page, "blocked");
  await page.goto(`${BLOCKED_WEB}/?api=${encodeURIComponent(API)}&q=${env("PROBE")}`);
  await page.waitForSelector('body[data-books="failed"]');
  await page.waitForSelector("#message:not([hidden])");
  seen.blockedMessage = await page.textContent("#message");
  seen.blockedBar = await statusBar(page);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "blocked.png"), fullPage: true });
  await page.close();
}
