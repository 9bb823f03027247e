// The logs page under load, in Chromium against a local `vigie serve --demo`:
//
// 1. replay: a range of 100,000 lines opened by URL; time to the first row
//    in the DOM and to all 100,000 loaded (medians over several loads);
// 2. live: 5,000 lines/s sent over HTTP for 60 s to the app the page
//    follows; the main thread's busy share, the rows in the DOM, the JS
//    heap and the bundle's memory every 10 s, and the lines that arrived.
//
// Prints tables for docs/PERFORMANCE.md. Run after `scripts/build-site [--release]`:
//
//   node end2end/bench/log-views.mjs [loads] [debug|release] [live seconds]

import { startVigie, launchChromium, scratchDataDir, signedInPage, ingestNdjson } from '../tests/vigie.mjs';
import { join, dirname } from 'node:path';
import { FIRST_ROW_PROBE, firstRowPainted } from './probe.mjs';
import { fileURLToPath } from 'node:url';

const loads = Number(process.argv[2] ?? 5);
const profile = process.argv[3] ?? 'debug';
const liveSeconds = Number(process.argv[4] ?? 60);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.VIGIE_BIN ??= join(root, 'target', profile, 'vigie');

const RANGE_LINES = 100_000;
const LIVE_RATE = 5_000; // lines per second
const TICK_MS = 100; // one POST of LIVE_RATE / 10 lines every 100 ms

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const vigie = await startVigie({ dataDir: scratchDataDir(), args: ['--demo'] });
const browser = await launchChromium();
try {
  // --- 1. replay of 100,000 lines -----------------------------------------
  const word = `replay${Date.now()}`;
  const start = Date.now() - 2 * 3_600_000;
  for (let batch = 0; batch < RANGE_LINES / 10_000; batch += 1) {
    await ingestNdjson(vigie, 'demo', 'worker', Array.from({ length: 10_000 }, (_, i) => {
      const n = batch * 10_000 + i;
      return { ts: new Date(start + n).toISOString(), level: 'info', message: `${word} #${n} GET /v1/orders done`, order_id: n };
    }));
  }
  const url = `${vigie.url}/orgs/demo/apps/worker/logs?q=${word}`
    + `&since=${new Date(start - 1_000).toISOString()}&until=${new Date(start + RANGE_LINES + 1_000).toISOString()}`;
  const page = await signedInPage(browser, vigie, { viewport: { width: 1280, height: 800 } });
  await page.addInitScript(FIRST_ROW_PROBE);
  const replay = { firstRow: [], all: [], rows: [] };
  for (let i = 0; i < loads + 1; i += 1) {
    await page.goto(url, { waitUntil: 'commit' });
    const firstRow = await firstRowPainted(page);
    await page.getByTestId('line-count').filter({ hasText: '100,000 lines' }).waitFor({ timeout: 60_000 });
    const all = await page.evaluate(() => performance.now());
    const rows = await page.locator('.log-row').count();
    if (i === 0) continue; // the first load warms the server and the browser cache
    replay.firstRow.push(firstRow);
    replay.all.push(all);
    replay.rows.push(rows);
  }

  // --- 2. 5,000 lines/s live for 60 s -------------------------------------
  await page.goto(`${vigie.url}/orgs/demo/apps/worker/logs`);
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 20_000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metric = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const sample = async (second) => {
    const m = await metric();
    const inPage = await page.evaluate(() => ({
      rows: document.querySelectorAll('.log-row').length,
      nodes: document.getElementsByTagName('*').length,
      wasm: globalThis.vigieMemory?.buffer.byteLength ?? NaN,
      lines: document.querySelector('[data-testid=line-count]').innerText,
    }));
    return { second, heap: m.JSHeapUsedSize, task: m.TaskDuration, ...inPage };
  };
  const samples = [await sample(0)];
  const began = Date.now();
  let sent = 0;
  let nextSample = 10;
  const liveWord = `live${Date.now()}`;
  while (Date.now() - began < liveSeconds * 1_000) {
    const tickStart = Date.now();
    const lines = Array.from({ length: LIVE_RATE * TICK_MS / 1_000 }, (_, i) => ({
      level: i % 50 === 0 ? 'warn' : 'info',
      message: `${liveWord} #${sent + i} request completed`,
      route: '/v1/orders/{id}',
      duration_ms: i % 97,
    }));
    await ingestNdjson(vigie, 'demo', 'worker', lines);
    sent += lines.length;
    const elapsed = (Date.now() - began) / 1_000;
    if (elapsed >= nextSample) {
      samples.push(await sample(nextSample));
      nextSample += 10;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, TICK_MS - (Date.now() - tickStart))));
  }
  const wall = (Date.now() - began) / 1_000;
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const last = await sample(Math.round(wall));
  samples.push(last);
  const busy = (last.task - samples[0].task) / wall;
  const shown = await page.evaluate((w) => [...document.querySelectorAll('.log-row .log-msg')]
    .map((row) => row.innerText).filter((text) => text.includes(w)).at(-1), liveWord);

  console.log(`replay: ${loads} loads of a ${RANGE_LINES.toLocaleString('en')}-line range, ${profile} build, Chromium headless, 1280×800, localhost`);
  console.log('| what | median | min | max |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, label] of [['firstRow', 'first row painted'], ['all', `all ${RANGE_LINES.toLocaleString('en')} lines loaded`]]) {
    const values = replay[name];
    console.log(`| ${label} | ${fmt(median(values))} | ${fmt(Math.min(...values))} | ${fmt(Math.max(...values))} |`);
  }
  console.log(`| rows in the DOM once loaded | ${median(replay.rows)} | ${Math.min(...replay.rows)} | ${Math.max(...replay.rows)} |`);
  console.log();
  console.log(`live: ${sent.toLocaleString('en')} lines sent in ${wall.toFixed(1)} s (${(sent / wall).toFixed(0)} lines/s), page following with no filter`);
  console.log(`main thread busy: ${(busy * 100).toFixed(1)} % of the run (Chromium's TaskDuration over wall time)`);
  console.log(`newest line on screen at the end: ${shown ?? 'none'}`);
  console.log('| second | rows in the DOM | DOM elements | JS heap used | bundle memory | lines kept |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const s of samples) {
    console.log(`| ${s.second} | ${s.rows} | ${s.nodes} | ${(s.heap / 1e6).toFixed(1)} MB | ${(s.wasm / 1e6).toFixed(1)} MB | ${s.lines} |`);
  }
  await page.close();
} finally {
  await browser.close();
  await vigie.stop();
}
