// How soon an app's logs page shows its first log line, how soon it is
// live, and how soon a line sent over HTTP then shows in it, in Chromium
// against a local `vigie serve --demo`. Prints a table of medians over
// several loads. Run after `scripts/build-site [--release]`:
//
//   node end2end/bench/first-line.mjs [loads] [debug|release]

import { startVigie, launchChromium, scratchDataDir, signedInPage, ingestText } from '../tests/vigie.mjs';
import { join, dirname } from 'node:path';
import { FIRST_ROW_PROBE, firstRowPainted } from './probe.mjs';
import { fileURLToPath } from 'node:url';

const loads = Number(process.argv[2] ?? 20);
const profile = process.argv[3] ?? 'debug';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.VIGIE_BIN ??= join(root, 'target', profile, 'vigie');

const vigie = await startVigie({ dataDir: scratchDataDir(), args: ['--demo'] });
const browser = await launchChromium();
const samples = { firstLine: [], firstPaint: [], live: [], liveLine: [] };
try {
  // Signed in once; every load is a new page of that browser context.
  const context = (await signedInPage(browser, vigie)).context();
  await context.addInitScript(FIRST_ROW_PROBE);
  for (let i = 0; i < loads + 1; i += 1) {
    const page = await context.newPage();
    await page.goto(`${vigie.url}/orgs/demo/apps/api/logs`, { waitUntil: 'commit' });
    const firstLine = await firstRowPainted(page);
    await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
    const live = await page.evaluate(() => performance.now());
    const firstPaint = await page.evaluate(
      () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    );
    const liveLine = await sentToShown(page, `bench line ${i} ${Date.now()}`);
    await page.close();
    if (i === 0) continue; // the first load warms the server and the browser cache
    samples.firstLine.push(firstLine);
    samples.firstPaint.push(firstPaint);
    samples.live.push(live);
    samples.liveLine.push(liveLine);
  }
} finally {
  await browser.close();
  await vigie.stop();
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
console.log(`${loads} loads of /orgs/demo/apps/api/logs, ${profile} build, Chromium headless, localhost`);
console.log('| what | median | min | max |');
console.log('| --- | --- | --- | --- |');
for (const [name, label] of [
  ['firstPaint', 'first contentful paint'],
  ['firstLine', 'first log line painted'],
  ['live', 'live stream connected (hydrated)'],
  ['liveLine', 'a line sent over HTTP, then shown'],
]) {
  const values = samples[name];
  console.log(`| ${label} | ${median(values).toFixed(0)} ms | ${Math.min(...values).toFixed(0)} ms | ${Math.max(...values).toFixed(0)} ms |`);
}

/**
 * Sends a line to the open page's app and returns how many ms passed
 * until a row holding it was added to the list (both ends read the same
 * wall clock).
 */
async function sentToShown(page, marker) {
  await page.evaluate((marker) => {
    const list = document.querySelector('[data-testid=log-lines]');
    window.__lineShownAt = new Promise((resolve) => {
      new MutationObserver((_, observer) => {
        if ([...list.querySelectorAll('.log-row')].some((row) => row.textContent.includes(marker))) {
          observer.disconnect();
          resolve(Date.now());
        }
      }).observe(list, { childList: true, subtree: true });
    });
  }, marker);
  const sentAt = Date.now();
  await ingestText(vigie, 'demo', 'api', `INFO ${marker}`);
  return (await page.evaluate(() => window.__lineShownAt)) - sentAt;
}
