// The queue board in headless Chromium: sign in, see the queues, watch a count change
// without a reload, find a dead job by a text in its arguments and retry it, pause and resume
// a queue, bulk-retry a filter, sign out.
//
// Started by the e2e test `board_browser`, which runs the platform and seeds the jobs. It
// reads BOARD_URL, BOARD_KEY (an operator's admin key), MARKER (a text in the seeded jobs'
// arguments) and DEAD (how many seeded jobs are dead). It prints `waiting for a change` when
// it waits for the test to enqueue a job, and exits 0 when every step passed.

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const base = process.env.BOARD_URL;
const key = process.env.BOARD_KEY;
const marker = process.env.MARKER;
const dead = Number(process.env.DEAD);
if (!base || !key || !marker || !dead) {
  console.error("BOARD_URL, BOARD_KEY, MARKER and DEAD are required");
  process.exit(2);
}

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

function fail(message) {
  throw new Error(message);
}

/** Waits until `read()` returns a value `ok` accepts, or fails after `ms`. */
async function until(what, read, ok, ms = 15000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();
page.on("dialog", (dialog) => dialog.accept());
const outside = [];
page.on("request", (request) => {
  if (!request.url().startsWith(base)) outside.push(request.url());
});
const scriptErrors = [];
page.on("pageerror", (error) => scriptErrors.push(String(error)));

try {
  // 1. Sign in.
  await page.goto(`${base}/board`);
  if (!page.url().endsWith("/board/sign-in")) fail(`not sent to sign in: ${page.url()}`);
  await page.fill("#key", "zc_not-a-key");
  await page.click("form.sign-in button");
  await page.waitForSelector("p.error");
  await page.fill("#key", key);
  await Promise.all([page.waitForURL(`${base}/board`), page.click("form.sign-in button")]);
  console.log("signed in");

  // 2. The queues.
  for (const queue of ["provisioning", "dialing", "campaigns", "webhooks", "bench"]) {
    await page.waitForSelector(`tr[data-queue="${queue}"]`);
  }
  const deadShown = await page.textContent('tr[data-queue="bench"] a[data-state="dead"]');
  if (Number(deadShown) !== dead) fail(`bench shows ${deadShown} dead jobs, not ${dead}`);
  console.log("queues shown");

  // 3. Live: a job enqueued now shows up without a reload.
  await until("live stream", () => page.getAttribute("body", "data-live"), (v) => v === "connected");
  await page.evaluate(() => (window.notReloaded = true));
  const pendingCell = 'tr[data-queue="bench"] a[data-state="pending"]';
  const before = Number(await page.textContent(pendingCell));
  console.log("waiting for a change");
  await lines.next();
  await until("pending count", async () => Number(await page.textContent(pendingCell)), (n) => n === before + 1);
  if (!(await page.evaluate(() => window.notReloaded === true))) fail("the page reloaded");
  console.log("live update seen");

  // 4. Find a dead job by a text in its arguments, and retry it.
  await page.click('nav a[href="/board/jobs"]');
  await page.selectOption('select[name="queue"]', "bench");
  await page.selectOption('select[name="state"]', "dead");
  await page.fill('input[name="q"]', marker.toUpperCase());
  await Promise.all([page.waitForURL(/\/board\/jobs\?/), page.click("form.filters button")]);
  const rows = await page.locator("table.jobs tbody tr").count();
  if (rows !== dead) fail(`${rows} dead jobs found by text, not ${dead}`);
  await Promise.all([page.waitForURL(/\/board\/jobs\/[0-9A-Z]+$/), page.click("table.jobs tbody tr:first-child a")]);
  await page.waitForSelector("text=recipient unreachable");
  await Promise.all([page.waitForURL(/\/board\/jobs\/[0-9A-Z]+$/), page.click("button.retry")]);
  await until("retried job state", () => page.getAttribute("section.job .badge", "data-state"), (s) => s === "retrying");
  console.log("dead job retried");

  // 5. Pause and resume a queue.
  await page.click('nav a[href="/board"]');
  await page.click('tr[data-queue="bench"] button.pause');
  await page.waitForSelector('tr[data-queue="bench"] .badge.paused');
  await page.click('tr[data-queue="bench"] button.resume');
  await until("paused badge", () => page.locator('tr[data-queue="bench"] .badge.paused').count(), (n) => n === 0);
  console.log("queue paused and resumed");

  // 6. Bulk-retry every dead job matching the filter.
  await page.goto(`${base}/board/jobs?queue=bench&state=dead&q=${encodeURIComponent(marker)}`);
  await Promise.all([page.waitForURL(/done=retry/), page.click('form.bulk button[value="retry"]')]);
  const notice = await page.textContent("p.notice");
  if (notice !== `${dead - 1} jobs retried.`) fail(`bulk notice: ${notice}`);
  await page.waitForSelector("p.empty");
  console.log("bulk retry done");

  // 7. Sign out.
  await Promise.all([page.waitForURL(`${base}/board/sign-in`), page.click("form.who button")]);
  await page.goto(`${base}/board/jobs`);
  if (!page.url().endsWith("/board/sign-in")) fail("still signed in after signing out");

  if (outside.length) fail(`requests outside the board: ${outside.join(", ")}`);
  if (scriptErrors.length) fail(`script errors: ${scriptErrors.join("; ")}`);
  console.log("board ok");
} catch (error) {
  const shot = `${process.env.TMPDIR || "/tmp"}/zencall-board-failure-${Date.now()}.png`;
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`FAILED at ${page.url()}: ${error.message}\nscreenshot: ${shot}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
process.exit(0);
