// The dashboards' figures, in Chromium against a local `vigie serve --demo`:
//
// 1. the app overview with a day of demo history: the page's HTML whole
//    (responseEnd), first contentful paint (every chart is in that HTML:
//    the charts are drawn on the server), and hydrated; medians of N loads;
// 2. the crosshair: the time one pointer move takes over the metrics page
//    of an app with 6 instances reporting every minute for 24 h (6 charts,
//    6 lines each), from the event to the crosshairs and readouts updated
//    and laid out, less an empty round of the event loop; median of 400 moves;
// 3. the realtime map under 2,000 requests/s: the main thread's busy
//    share (Chrome's TaskDuration over wall time) and the JS heap and DOM
//    nodes after 10 s and at the end.
//
// Prints a table. Run after `scripts/build-site [--release]`:
//
//   node end2end/bench/dashboards.mjs [loads=20] [debug|release] [map seconds=60] [backfill minutes=1440]

import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startVigie, launchChromium, scratchDataDir, signedInPage } from '../tests/vigie.mjs';

const loads = Number(process.argv[2] ?? 20);
const profile = process.argv[3] ?? 'debug';
const mapSeconds = Number(process.argv[4] ?? 60);
const backfill = process.argv[5] ?? '1440';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.VIGIE_BIN ??= join(root, 'target', profile, 'vigie');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = [];

const started = Date.now();
const vigie = await startVigie({
  dataDir: scratchDataDir(),
  args: ['--demo', '--demo-backfill-minutes', backfill, '--syslog-tcp', 'off', '--syslog-udp', 'off', '--statsd', 'off'],
});
const browser = await launchChromium();
const api = (path, body, type = 'application/json') =>
  fetch(`${vigie.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${vigie.token}`, 'content-type': type },
    body,
  });

try {
  // The demo writes its history at start: wait until the last minutes have requests.
  for (;;) {
    const stats = await (await api('/api/v1/orgs/demo/apps/api/http?from=24h&step=1h&top=1')).json();
    if (stats.steps?.length >= Math.min(24, Number(backfill) / 60)) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(`demo with ${backfill} minutes of history ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const context = (await signedInPage(browser, vigie, { viewport: { width: 1280, height: 900 } })).context();

  // 1. The overview.
  const overview = { response: [], paint: [], hydrated: [] };
  for (let i = 0; i < loads + 1; i += 1) {
    const page = await context.newPage();
    await page.goto(`${vigie.url}/orgs/demo/apps/api`, { waitUntil: 'commit' });
    await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
    const hydrated = await page.evaluate(() => performance.now());
    const [response, paint] = await page.evaluate(() => [
      performance.getEntriesByType('navigation')[0].responseEnd,
      performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    ]);
    const charts = await page.locator('.chart-plot svg').count();
    if (charts < 3) throw new Error(`the overview drew ${charts} charts`);
    await page.close();
    if (i === 0) continue; // warms the server and the browser's cache
    overview.response.push(response);
    overview.paint.push(paint);
    overview.hydrated.push(hydrated);
  }
  rows.push(['overview: HTML whole (responseEnd)', `${median(overview.response).toFixed(0)} ms`, `${loads} loads`]);
  rows.push(['overview: first contentful paint, charts included', `${median(overview.paint).toFixed(0)} ms`, '< 300 ms']);
  rows.push(['overview: hydrated', `${median(overview.hydrated).toFixed(0)} ms`, '']);

  // 2. The crosshair: 6 instances reporting every minute for 24 h.
  const now = Date.now();
  const reports = [];
  for (let minute = 1440; minute > 0; minute -= 1) {
    for (let n = 1; n <= 6; n += 1) {
      reports.push({
        instance: `bench-${n}`, ts_ms: now - minute * 60_000, cpu_percent: 20 + 10 * Math.sin(minute / 60 + n),
        memory_used_bytes: 3e8 + n * 1e7 + minute * 1e4, memory_limit_bytes: 1_073_741_824,
        net_in_bytes: 1e4 * n + minute, net_out_bytes: 2e4 * n + minute, disk_read_bytes: 4096 * n, disk_write_bytes: 8192 * n,
      });
    }
  }
  for (let at = 0; at < reports.length; at += 1_000) {
    const response = await api('/api/v1/orgs/demo/apps/worker/instances/metrics', JSON.stringify(reports.slice(at, at + 1_000)));
    if (!response.ok) throw new Error(`instance reports: ${response.status} ${await response.text()}`);
  }
  const page = await context.newPage();
  await page.goto(`${vigie.url}/orgs/demo/apps/worker/metrics?range=24h`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  const shape = await page.evaluate(() => {
    const charts = [...document.querySelectorAll('[data-chart]')];
    return { charts: charts.length, lines: charts[0].querySelectorAll('.chart-layer').length, points: charts[0].querySelectorAll('tbody tr').length };
  });
  const moves = await page.evaluate(async () => {
    const overlay = document.querySelector('[data-chart="instance.cpu_percent"] .chart-overlay');
    const readout = document.querySelector('[data-chart="instance.memory_used_bytes"] [data-testid=readout]');
    const rect = overlay.getBoundingClientRect();
    const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
    const idle = [];
    for (let i = 0; i < 100; i += 1) {
      const t0 = performance.now();
      await tick();
      document.body.getBoundingClientRect();
      idle.push(performance.now() - t0);
    }
    const samples = [];
    let changed = 0;
    for (let i = 0; i < 400; i += 1) {
      const before = readout.textContent;
      const x = rect.left + rect.width * (0.15 + (0.8 * (i % 200)) / 200);
      const t0 = performance.now();
      overlay.dispatchEvent(new PointerEvent('pointermove', { clientX: x, clientY: rect.top + rect.height / 2, bubbles: true }));
      await tick();
      document.body.getBoundingClientRect();
      samples.push(performance.now() - t0);
      if (readout.textContent !== before) changed += 1;
    }
    const sorted = (values) => [...values].sort((a, b) => a - b);
    return { idle: sorted(idle)[50], move: sorted(samples)[200], p95: sorted(samples)[380], changed };
  });
  if (moves.changed < 300) throw new Error(`the other charts' readouts followed only ${moves.changed} of 400 moves`);
  await page.close();
  rows.push([
    `crosshair: one pointer move (${shape.charts} charts × ${shape.lines} lines × ${shape.points} points)`,
    `${Math.max(0, moves.move - moves.idle).toFixed(2)} ms`,
    `< 8 ms; p95 ${Math.max(0, moves.p95 - moves.idle).toFixed(2)} ms`,
  ]);

  // 3. The realtime map under 2,000 requests/s.
  const map = await context.newPage();
  await map.goto(`${vigie.url}/orgs/demo/apps/worker/map?mode=realtime`);
  await map.locator('[data-testid=realtime-count][data-stream=open]').waitFor();
  const cdp = await context.newCDPSession(map);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const clients = ['3.1.2.3', '73.4.5.6', '2.1.1.1', '90.3.3.3', '79.200.1.1', '86.130.2.2', '126.1.1.1', '49.40.1.1', '177.1.1.1', '1.121.1.1'];
  let sent = 0;
  const sender = setInterval(() => {
    const lines = [];
    for (let i = 0; i < 200; i += 1) {
      lines.push(JSON.stringify({ method: 'GET', path: '/bench', status: 200, duration_ms: 2, bytes_sent: 100, client_ip: clients[(sent + i) % clients.length] }));
    }
    sent += 200;
    api('/api/v1/orgs/demo/apps/worker/logs?kind=access', lines.join('\n'), 'application/x-ndjson').catch(() => {});
  }, 100);
  const first = await metrics();
  const firstAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const at10 = await metrics();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, mapSeconds - 10) * 1_000));
  const last = await metrics();
  const seconds = (Date.now() - firstAt) / 1_000;
  clearInterval(sender);
  const shown = await map.getByTestId('realtime-count').innerText();
  rows.push([`map: main thread busy at ${(sent / seconds).toFixed(0)} requests/s`, `${((100 * (last.TaskDuration - first.TaskDuration)) / seconds).toFixed(1)} %`, `< 30 %; ${shown}`]);
  rows.push(['map: JS heap after 10 s → at the end', `${(at10.JSHeapUsedSize / 1e6).toFixed(1)} → ${(last.JSHeapUsedSize / 1e6).toFixed(1)} MB`, `${seconds.toFixed(0)} s; flat?`]);
  rows.push(['map: DOM nodes after 10 s → at the end', `${at10.Nodes} → ${last.Nodes}`, '']);
} finally {
  await browser.close();
  await vigie.stop();
}

console.log(`${profile} build, Chromium headless, localhost`);
console.log('| what | median | note |');
console.log('| --- | --- | --- |');
for (const [what, value, note] of rows) console.log(`| ${what} | ${value} | ${note} |`);
