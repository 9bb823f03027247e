// How soon an app's logs page shows its first log line, and how soon it is
// live, in Chromium against a local `vigie serve --demo`. Prints a table of
// medians over several loads. Run after `scripts/build-site [--release]`:
//
//   node end2end/bench/first-line.mjs [loads] [debug|release]

import { startVigie, launchChromium, scratchDataDir, signedInPage } from '../tests/vigie.mjs';
import { join, dirname } from 'node:path';
import { FIRST_ROW_PROBE, firstRowPainted } from './probe.mjs';
import { fileURLToPath } from 'node:url';

const loads = Number(process.argv[2] ?? 20);
const profile = process.argv[3] ?? 'debug';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.VIGIE_BIN ??= join(root, 'target', profile, 'vigie');

const vigie = await startVigie({ dataDir: scratchDataDir(), args: ['--demo'] });
const browser = await launchChromium();
const samples = { firstLine: [], firstPaint: [], live: [] };
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
    await page.close();
    if (i === 0) continue; // the first load warms the server and the browser cache
    samples.firstLine.push(firstLine);
    samples.firstPaint.push(firstPaint);
    samples.live.push(live);
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
]) {
  const values = samples[name];
  console.log(`| ${label} | ${median(values).toFixed(0)} ms | ${Math.min(...values).toFixed(0)} ms | ${Math.max(...values).toFixed(0)} ms |`);
}
