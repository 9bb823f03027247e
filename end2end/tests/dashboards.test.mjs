// An on-call engineer opens an app's metrics: one chart per server metric,
// each named for assistive technology with what it shows, its legend naming
// the demo's two instances, and a table of its numbers a click away.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, signedInPage, demoForTests, noPageErrors } from './vigie.mjs';

const env = demoForTests();

// The WebAssembly files a page fetches, by name (`split___app_logs_route…`
// is the logs page's own code; `vigie.wasm` is the main module).
function wasmFetched(page) {
  const names = [];
  page.on('request', (request) => {
    const name = new URL(request.url()).pathname.split('/').pop();
    if (name.endsWith('.wasm')) names.push(name);
  });
  return names;
}
const pageCode = (names) => names.filter((name) => name.startsWith('split___')).map((name) => name.split('_route_view')[0].slice(8)).sort();

test('a page fetches only its own code: the logs page none of the metrics page, which comes with the Metrics link', async () => {
  const page = await signedInPage(env.browser, env.vigie);
  const checkErrors = noPageErrors(page);
  const fetched = wasmFetched(page);
  const html = await (await page.goto(`${env.vigie.url}/orgs/demo/apps/api/logs`)).text();
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  assert.ok(fetched.includes('vigie.wasm'), `${fetched}`);
  assert.deepEqual(pageCode(fetched), ['app_logs'], 'the logs page fetched its own code only');
  // The server named the page's code in its HTML, once each, for the
  // browser to fetch while the main module compiles.
  const preloaded = [...html.matchAll(/<link[^>]*rel="preload"[^>]*>/g)]
    .map((link) => link[0].match(/href="([^"]+)"/)?.[1] ?? '').filter((href) => href.endsWith('.wasm'));
  assert.deepEqual(pageCode(preloaded.map((href) => href.split('/').pop())), ['app_logs'], `${html.length} bytes: ${preloaded}`);
  // The explorer above the lines is a part of its own, fetched once the
  // page is up: the HTML names none of the modules only it needs, and they
  // come when it shows.
  const manifest = await (await page.request.get(`${env.vigie.url}/pkg/__wasm_split_manifest.json`)).json();
  const [logsModules, explorerModules] = ['app_logs_route_view_', 'explorer_counts_'].map((prefix) =>
    Object.entries(manifest).find(([split]) => split.replace(/^_+/, '').startsWith(prefix))[1]);
  const explorerOnly = explorerModules.filter((module) => !logsModules.includes(module)).map((module) => `${module}.wasm`);
  assert.ok(explorerOnly.length > 0, 'the explorer has modules of its own');
  assert.deepEqual(preloaded.filter((href) => explorerOnly.includes(href.split('/').pop())), [], 'the explorer is not preloaded');
  await page.getByTestId('explorer-total').waitFor();
  assert.ok(explorerOnly.every((module) => fetched.includes(module)), `the explorer's modules came with it: ${explorerOnly}`);
  await page.evaluate(() => { window.stillThisPage = true; });
  await page.getByRole('link', { name: 'Metrics' }).click();
  await page.waitForURL('**/orgs/demo/apps/api/metrics');
  await page.locator('[data-chart="instance.cpu_percent"]').waitFor();
  assert.deepEqual(pageCode(fetched), ['app_logs', 'app_metrics'], 'the metrics code came with the link');
  assert.equal(await page.evaluate(() => window.stillThisPage), true, 'no reload: the app went on in the same document');
  // Its legend answers a click: the page's code runs.
  const chart = page.locator('[data-chart="instance.cpu_percent"]');
  await chart.getByRole('button', { name: 'api-2' }).click();
  await page.waitForFunction(() =>
    document.querySelector('[data-chart="instance.cpu_percent"] .legend-toggle[aria-pressed="false"]'));
  assert.equal(await chart.locator('.chart-layer[data-series="1"]').isVisible(), false);
  // Nothing the logs page left behind ran into its own disposed state.
  checkErrors();
  await page.close();
});

const CHARTS = [
  ['instance.cpu_percent', /^CPU % \(100 = one core\) per instance, last 24 h: api-1 max [\d.]+, api-2 max [\d.]+$/],
  ['instance.memory_used_bytes', /^Memory used against limit, MB, per instance, last 24 h: api-1 max [\d.]+, api-1 limit max [\d.]+, api-2 max/],
  ['instance.net_in_bytes', /^Network in, kB\/s, per instance, last 24 h: api-1 max/],
  ['instance.net_out_bytes', /^Network out, kB\/s, per instance, last 24 h: api-1 max/],
  ['instance.disk_read_bytes', /^Disk read, kB\/s, per instance, last 24 h: api-1 max/],
  ['instance.disk_write_bytes', /^Disk write, kB\/s, per instance, last 24 h: api-1 max/],
];

for (const colorScheme of ['light', 'dark']) {
  test(`the metrics page draws one named chart per server metric, with its table (${colorScheme})`, async () => {
    const page = await signedInPage(env.browser, env.vigie, { colorScheme, viewport: { width: 1280, height: 900 } });
    await page.goto(`${env.vigie.url}/orgs/demo/apps/api/logs`);
    await page.getByRole('link', { name: 'Metrics' }).click();
    await page.waitForURL('**/orgs/demo/apps/api/metrics');
    await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
    // Reached by a link: the page reads its charts after the URL changed.
    await page.locator(`[data-chart="${CHARTS.at(-1)[0]}"]`).waitFor();

    const charts = page.locator('[data-chart]');
    assert.deepEqual(await charts.evaluateAll((found) => found.map((chart) => chart.dataset.chart)), CHARTS.map(([id]) => id));
    for (const [id, name] of CHARTS) {
      const chart = page.locator(`[data-chart="${id}"]`);
      const label = await chart.getByRole('img').getAttribute('aria-label');
      assert.match(label, name);
      assert.equal(await chart.locator('svg polyline, svg path').count() > 0, true, `${id} draws lines`);
      const legend = await chart.getByRole('list', { name: 'Legend' }).locator('.legend-label').allInnerTexts();
      assert.ok(legend.includes('api-1') && legend.includes('api-2'), `${id}: ${legend}`);
    }
    await page.getByRole('link', { name: '24h' }).and(page.locator('[aria-current=page]')).waitFor();
    await page.screenshot({ path: join(artifacts, `metrics-24h-${colorScheme}.png`), fullPage: true });

    // The table: a click opens it, its columns are the instances, its cells numbers.
    const cpu = page.locator('[data-chart="instance.cpu_percent"]');
    await cpu.getByText('Table').click();
    const table = cpu.getByRole('table');
    await table.waitFor();
    assert.deepEqual(await table.locator('thead th').allInnerTexts(), ['Time (UTC)', 'api-1', 'api-2']);
    const rows = table.locator('tbody tr');
    assert.ok(await rows.count() > 0);
    for (const text of await rows.first().locator('td').allInnerTexts()) assert.match(text, /^(\d+\.\d+)?$/);
    await cpu.screenshot({ path: join(artifacts, `metrics-table-${colorScheme}.png`) });

    // Another range is a link that keeps the page; a wrong one says what is wrong.
    await page.getByRole('link', { name: '1h', exact: true }).click();
    await page.waitForURL('**/metrics?range=1h');
    await page.getByRole('img', { name: /^CPU % \(100 = one core\) per instance, last 1 h/ }).waitFor();
    // The demo's history is short: the last hour shows its lines whole.
    await page.screenshot({ path: join(artifacts, `metrics-1h-${colorScheme}.png`), fullPage: true });
    await page.goto(`${env.vigie.url}/orgs/demo/apps/api/metrics?range=2h`);
    assert.equal(await page.getByTestId('problem').innerText(), 'range: "2h" is none of 1h, 6h, 24h, 7d, 30d');
    await page.close();
  });
}

for (const colorScheme of ['light', 'dark']) {
  test(`the HTTP page charts requests, latency and bytes and links a status class to its access logs (${colorScheme})`, async () => {
    const page = await signedInPage(env.browser, env.vigie, { colorScheme, viewport: { width: 1280, height: 900 } });
    await page.goto(`${env.vigie.url}/orgs/demo/apps/web/metrics`);
    await page.getByRole('link', { name: 'HTTP', exact: true }).click();
    await page.waitForURL('**/orgs/demo/apps/web/http');
    await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
    await page.getByRole('link', { name: '1h', exact: true }).click();
    await page.waitForURL('**/http?range=1h');
    await page.getByRole('img', { name: /^Requests per second by status class, stacked, last 1 h: 2xx max [\d.]+, 3xx max/ }).waitFor();
    await page.getByRole('img', { name: /^Latency percentiles in ms, last 1 h: p50 max [\d.]+, p95 max [\d.]+, p99 max [\d.]+$/ }).waitFor();
    await page.getByRole('img', { name: /^Bytes sent per second, kB\/s, last 1 h: bytes out max/ }).waitFor();
    const paths = page.getByTestId('top-paths').locator('tbody tr');
    assert.ok(await paths.count() > 0);
    for (const text of await paths.first().locator('td.num').allInnerTexts()) assert.match(text, /^([\d,.]+( %| ms)?|–)$/);
    await page.screenshot({ path: join(artifacts, `http-${colorScheme}.png`), fullPage: true });

    await page.getByRole('list', { name: 'Access logs by status class' }).getByRole('link', { name: '5xx' }).click();
    await page.waitForURL('**/logs?kind=access&q=status%3A5xx&since=1h');
    await page.close();
  });
}

test('a country on the request map is a link to its access logs, its total as its tooltip', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/map`);
  const outline = page.locator('.map-country-link').first();
  await outline.waitFor({ state: 'attached' });
  const country = await outline.getAttribute('data-country');
  const listed = page.getByRole('list', { name: 'Requests by country' }).locator(`a[data-country="${country}"]`);
  const count = (await listed.locator('xpath=..').innerText()).replace(country, '').trim();
  assert.equal(await outline.locator('title').textContent(), `${country}: ${count} requests`);
  await outline.hover();
  await outline.dispatchEvent('click');
  await page.waitForURL((url) => url.pathname === '/orgs/demo/apps/web/logs' && url.searchParams.get('q') === `country:${country}`);
  await page.close();
});
