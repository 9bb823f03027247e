// The walking skeleton's promise, checked in a real browser: open the demo
// org, open an app, and see a line sent over HTTP appear live, without a
// reload; after the server restarts, or after the stream falls silent, the
// page picks up where it stopped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, scratchDataDir, startVigie, launchChromium, ingestText, signedInPage } from './vigie.mjs';

let vigie;
let browser;
const dataDir = scratchDataDir();

before(async () => {
  vigie = await startVigie({ dataDir, args: ['--demo'] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await vigie?.stop();
});

/** The offsets of the log rows on the page, top to bottom. */
function shownOffsets(page) {
  return page.$$eval('[data-testid=log-lines] .log-row', (rows) => rows.map((row) => Number(row.dataset.offset)));
}

test('the org home lists the demo apps and add-ons and leads to their overview, then their logs', async () => {
  const page = await signedInPage(browser, vigie);
  await page.goto(`${vigie.url}/`);
  await page.getByRole('link', { name: /Acme Demo/ }).click();
  await page.waitForURL('**/orgs/demo');
  for (const name of ['Orders API', 'Storefront', 'Billing worker', 'Main database']) {
    await page.getByRole('link', { name: new RegExp(name) }).waitFor();
  }
  assert.match(await page.locator('.app-section').first().innerText(), /lines and [\d,]+ requests in the last hour/);
  await page.screenshot({ path: join(artifacts, 'org-home.png'), fullPage: true });
  await page.getByRole('link', { name: /Orders API/ }).click();
  await page.waitForURL('**/orgs/demo/apps/api');
  await page.getByRole('link', { name: 'Service logs' }).click();
  await page.waitForURL('**/orgs/demo/apps/api/logs');
  await page.getByRole('heading', { name: 'Orders API' }).waitFor();
  await page.close();
});

test('a line sent over HTTP appears in the open logs page, without a reload', async () => {
  const page = await signedInPage(browser, vigie, { viewport: { width: 1280, height: 800 } });
  let reloads = 0;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) reloads += 1; });
  await page.goto(`${vigie.url}/orgs/demo/apps/api/logs`);
  // Server-rendered first paint: the demo history is there before any script runs.
  assert.ok((await shownOffsets(page)).length > 0, 'the first paint shows the latest lines');
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });

  // How soon it appears is measured by end2end/bench/first-line.mjs, not here.
  const marker = `checkout failed for order ${Date.now()}: card declined`;
  await ingestText(vigie, 'demo', 'api', `ERROR ${marker}`);
  const row = page.locator('.log-row', { hasText: marker });
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.getAttribute('class'), /level-error/);
  assert.equal(reloads, 1, 'the page was loaded once and never reloaded');

  const offsets = await shownOffsets(page);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'lines are in offset order');
  await page.screenshot({ path: join(artifacts, 'live-logs.png') });
  await page.close();
});

test('after the server restarts, the live view resumes where it stopped, losing and doubling nothing', async () => {
  const page = await signedInPage(browser, vigie);
  await page.goto(`${vigie.url}/orgs/demo/apps/worker/logs`);
  const status = page.getByTestId('live-status');
  await status.filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });

  const listen = vigie.listen;
  assert.equal(await vigie.stop(), 0, 'vigie stops cleanly on SIGTERM');
  await status.filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 10_000 });
  vigie = await startVigie({ dataDir, listen, args: ['--demo'] });
  await status.filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });

  const marker = `after restart ${Date.now()}`;
  await ingestText(vigie, 'demo', 'worker', marker);
  await page.locator('.log-row', { hasText: marker }).waitFor({ timeout: 10_000 });
  assertContiguous(await shownOffsets(page));
  await page.close();
});

test('a live stream that falls silent is opened again from the next line, losing and doubling nothing', async () => {
  const page = await signedInPage(browser, vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${vigie.url}/orgs/demo/apps/worker/logs`);
  const status = page.getByTestId('live-status');
  await status.filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  const before = `before the silence ${Date.now()}`;
  await ingestText(vigie, 'demo', 'worker', before);
  await page.locator('.log-row', { hasText: before }).waitFor({ timeout: 10_000 });

  // The server stops without closing anything: the stream stays open and
  // says nothing, no line and no heartbeat, until the console gives up on it.
  vigie.freeze();
  try {
    await status.filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 30_000 });
  } finally {
    vigie.thaw();
  }
  await status.filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
  const after = `after the silence ${Date.now()}`;
  await ingestText(vigie, 'demo', 'worker', after);
  await page.locator('.log-row', { hasText: after }).waitFor({ timeout: 10_000 });
  const texts = await page.$$eval('[data-testid=log-lines] .log-row .log-msg', (rows) => rows.map((row) => row.innerText));
  assert.equal(texts.filter((text) => text === before).length, 1, 'the line before the silence is still shown, once');
  assertContiguous(await shownOffsets(page));
  await page.close();
});

/** Every offset once, in order, no gap. */
function assertContiguous(offsets) {
  const expected = Array.from({ length: offsets.length }, (_, i) => offsets[0] + i);
  assert.deepEqual(offsets, expected, 'every offset once, in order, no gap');
}
