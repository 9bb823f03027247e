// The dashboards as an on-call engineer uses them: the overview is the
// app's landing page; pointing at a chart shows every chart's values at
// that time; the legend hides a line; dragging across a chart zooms to
// that range and the URL, shared, restores it; a click opens the logs
// behind a point; a statsd point pushed now appears on the open chart
// without a reload; and the realtime map blinks a dot where each request
// posted during the test comes from.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { artifacts, launchChromium, scratchDataDir, signedInPage, startVigie } from './vigie.mjs';

const env = { vigie: undefined, browser: undefined, statsdPort: 0 };

/** A UDP port nobody listens on now. */
async function freeUdpPort() {
  const socket = createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

before(async () => {
  env.statsdPort = await freeUdpPort();
  env.vigie = await startVigie({
    dataDir: scratchDataDir(),
    args: ['--demo', '--statsd', `127.0.0.1:${env.statsdPort}`, '--statsd-flush-secs', '1', '--syslog-tcp', 'off', '--syslog-udp', 'off'],
  });
  env.browser = await launchChromium();
});

after(async () => {
  await env.browser?.close();
  await env.vigie?.stop();
});

async function openHydrated(page, path) {
  await page.goto(`${env.vigie.url}${path}`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
}

/** Moves the pointer to a fraction of a chart's plot (0..1 across the whole drawing). */
async function pointAt(page, chart, x, y = 0.5) {
  const box = await page.locator(`[data-chart="${chart}"] .chart-overlay`).boundingBox();
  await page.mouse.move(box.x + box.width * x, box.y + box.height * y);
  return box;
}

test('the overview is the landing page of an app and each tile leads to its page', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await openHydrated(page, '/orgs/demo');
  await page.getByRole('link', { name: /Orders API/ }).click();
  await page.waitForURL('**/orgs/demo/apps/api');
  await page.getByRole('link', { name: 'Overview' }).and(page.locator('[aria-current=page]')).waitFor();
  assert.match(await page.getByTestId('total-requests').innerText(), /^[\d,]+$/);
  assert.match(await page.getByTestId('rps-now').innerText(), /^\d+\.\d+$/);
  await page.getByRole('img', { name: /^CPU % \(100 = one core\) per instance, last 24 h: api-1 max/ }).waitFor();
  await page.getByRole('group', { name: /^Map of the last 24 h's requests: [\d,]+ requests placed, most from/ }).waitFor();
  await page.getByRole('heading', { name: 'Server metrics' }).getByRole('link').click();
  await page.waitForURL('**/orgs/demo/apps/api/metrics?range=24h');
  await page.close();
});

test('the crosshair shows every chart\'s values at one time, the legend hides a line, a drag zooms and the URL keeps it', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 1400 } });
  await openHydrated(page, '/orgs/demo/apps/api/metrics?range=1h');
  const cpu = page.locator('[data-chart="instance.cpu_percent"]');
  const memory = page.locator('[data-chart="instance.memory_used_bytes"]');

  // Pointing at the right end of the CPU chart: both charts draw a crosshair
  // and read out the values of the table's row at that time.
  await pointAt(page, 'instance.cpu_percent', 0.97);
  await cpu.locator('.crosshair').waitFor();
  await memory.locator('.crosshair').waitFor();
  const time = await cpu.getByTestId('readout').locator('time').textContent();
  const values = await cpu.getByTestId('readout').locator('.readout-value').allTextContents();
  const row = cpu.locator('tbody tr').filter({ has: page.locator('th time', { hasText: time }) });
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells.length, 2);
  assert.deepEqual(values, [`api-1 ${cells[0] || '–'}`, `api-2 ${cells[1] || '–'}`]);
  assert.equal(await memory.getByTestId('readout').locator('time').textContent(), time);
  await cpu.screenshot({ path: join(artifacts, 'chart-crosshair.png') });

  // The legend hides api-2's line, and its value leaves the readout.
  const toggle = cpu.getByRole('button', { name: 'api-2' });
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
  assert.equal(await cpu.locator('.chart-layer[data-series="1"]').isVisible(), false);
  await pointAt(page, 'instance.cpu_percent', 0.9);
  await page.waitForFunction(() => !document.querySelector('[data-chart="instance.cpu_percent"] [data-testid=readout]').textContent.includes('api-2'));
  // The URL says so, and a link to it hides the same line.
  assert.deepEqual(new URL(page.url()).searchParams.getAll('hide'), ['instance.cpu_percent:api-2']);
  const hiding = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await openHydrated(hiding, `${new URL(page.url()).pathname}${new URL(page.url()).search}`);
  const hidden = hiding.locator('[data-chart="instance.cpu_percent"]');
  assert.equal(await hidden.getByRole('button', { name: 'api-2' }).getAttribute('aria-pressed'), 'false');
  assert.equal(await hidden.locator('.chart-layer[data-series="1"]').isVisible(), false);
  assert.equal(await hidden.locator('.chart-layer[data-series="0"]').isVisible(), true);
  await hiding.close();
  await toggle.click();
  assert.deepEqual(new URL(page.url()).searchParams.getAll('hide'), []);
  assert.equal(await cpu.locator('.chart-layer[data-series="1"]').isVisible(), true);

  // A drag across the last quarter (the demo's history is 10 minutes)
  // zooms to that range, written to the URL.
  const box = await pointAt(page, 'instance.cpu_percent', 0.75);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.97, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL(/metrics\?from=[^&]+&to=[^&]+$/);
  const url = new URL(page.url());
  const span = Date.parse(url.searchParams.get('to')) - Date.parse(url.searchParams.get('from'));
  // The plot spans 85% of the drawing: 22% of it is about 15.5 minutes of the hour.
  assert.ok(span > 14 * 60_000 && span < 17 * 60_000, `about a quarter of an hour: ${span} ms`);
  await page.getByTestId('custom-range').waitFor();
  const label = await page.getByTestId('range-label').innerText();

  // The same URL, opened anew, shows the same view.
  const shared = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await openHydrated(shared, `${url.pathname}${url.search}`);
  assert.equal(await shared.getByTestId('range-label').innerText(), label);
  const firstRow = await shared.locator('[data-chart="instance.cpu_percent"] tbody tr').first().getAttribute('data-ts-ms');
  assert.ok(Number(firstRow) >= Date.parse(url.searchParams.get('from')) - 60_000, 'the table starts at the zoomed range');
  await shared.close();
  await page.close();
});

test('a click on a point opens the logs of that instance at that minute', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 1400 } });
  await openHydrated(page, '/orgs/demo/apps/api/metrics?range=1h');
  const cpu = page.locator('[data-chart="instance.cpu_percent"]');
  await pointAt(page, 'instance.cpu_percent', 0.9);
  await cpu.locator('.crosshair').waitFor();
  await page.mouse.down();
  await page.mouse.up();
  await page.waitForURL(/\/logs\?q=instance%3A%22api-\d%22&since=[^&]+&until=/);
  const url = new URL(page.url());
  assert.equal(Date.parse(url.searchParams.get('until')) - Date.parse(url.searchParams.get('since')), 60_000);
  await page.close();
});

test('a statsd point pushed now appears on the open chart after the next flush, without a reload', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  const socket = createSocket('udp4');
  const send = (line) => new Promise((resolve, reject) => socket.send(line, env.statsdPort, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
  const tags = `#vigie_app:worker,vigie_token:${env.vigie.token}`;
  await send(`e2e.queue_depth:5|g|${tags}`);
  // The metric exists once flushed (every second here): ask the Stats API until it does.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await fetch(`${env.vigie.url}/api/v1/orgs/demo/apps/worker/metrics/e2e.queue_depth?from=1h`, {
      headers: { authorization: `Bearer ${env.vigie.token}` },
    });
    if (answer.ok) break;
    assert.ok(Date.now() < deadline, `the gauge never came: ${answer.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await openHydrated(page, '/orgs/demo/apps/worker/metrics?range=1h&metric=e2e.queue_depth');
  const loads = [];
  page.on('load', () => loads.push(page.url()));
  const label = await page.locator('[data-chart="e2e.queue_depth"] .chart-plot').getAttribute('aria-label');
  assert.match(label, /max 5(\.0+)?$/);
  await send(`e2e.queue_depth:4242|g|${tags}`);
  // A step's value is the mean of its points: any maximum above 5 is the new point drawn.
  await page.waitForFunction(
    () => {
      const label = document.querySelector('[data-chart="e2e.queue_depth"] .chart-plot')?.getAttribute('aria-label') ?? '';
      return Number(label.match(/max ([\d.]+)$/)?.[1]) > 5;
    },
    null,
    { timeout: 15_000 },
  );
  assert.deepEqual(loads, [], 'no reload');
  socket.close();
  await page.close();
});

test('the realtime map blinks a dot where each request posted now comes from', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  // The billing worker serves no HTTP in the demo: every dot is one of ours.
  await openHydrated(page, '/orgs/demo/apps/worker/map?mode=realtime');
  await page.getByTestId('realtime-count').waitFor();
  await page.locator('[data-testid=realtime-count][data-stream=open]').waitFor();
  const lines = ['126.1.2.3', '126.1.2.4', '2.0.1.1'].map((ip, i) =>
    JSON.stringify({ method: 'GET', path: `/e2e/${i}`, status: 200, duration_ms: 3, bytes_sent: 10, client_ip: ip }));
  const posted = Date.now();
  const response = await fetch(`${env.vigie.url}/api/v1/orgs/demo/apps/worker/logs?kind=access`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${env.vigie.token}` },
    body: lines.join('\n'),
  });
  assert.equal(response.status, 200, await response.text());
  await page.locator('.map-dot[data-country="JP"][data-requests="2"]').waitFor({ state: 'attached', timeout: 2_000 });
  await page.locator('.map-dot[data-country="FR"][data-requests="1"]').waitFor({ state: 'attached', timeout: 2_000 });
  assert.ok(Date.now() - posted < 2_000, 'within 2 s');
  assert.equal(await page.getByTestId('realtime-count').innerText(), '3 requests since the map opened');
  await page.screenshot({ path: join(artifacts, 'map-realtime.png') });
  await page.close();
});
