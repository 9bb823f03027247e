// The logs page's views in a real browser: a filter that narrows and marks,
// a replayed time range, pause and resume, and a URL that restores all of
// it when reloaded or shared.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { artifacts, ingestText, ingestNdjson, signedInPage, demoForTests } from './vigie.mjs';

const env = demoForTests();

const logs = (query = '') => `${env.vigie.url}/orgs/demo/apps/worker/logs${query}`;
const rowTexts = (page) => page.$$eval('[data-testid=log-lines] .log-row .log-msg', (rows) => rows.map((r) => r.innerText));
const shownOffsets = (page) =>
  page.$$eval('[data-testid=log-lines] .log-row', (rows) => rows.map((row) => Number(row.dataset.offset)));

test('a filter typed after pressing / narrows the lines, marks the matches, and lives in the URL', async () => {
  const word = `zebra${Date.now()}`;
  await ingestText(env.vigie, 'demo', 'worker', `ERROR payment ${word} refused\nINFO nothing to see\nWARN ${word.toUpperCase()} again`);
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(logs());
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter', '/ focuses the filter');
  await page.keyboard.type(word);
  await page.keyboard.press('Enter');
  await page.waitForURL(`**/logs?q=${word}`);
  await page.locator('.log-row', { hasText: 'again' }).waitFor();
  assert.deepEqual(await rowTexts(page), [`ERROR payment ${word} refused`, `WARN ${word.toUpperCase()} again`]);
  assert.deepEqual(await page.$$eval('.log-msg mark', (marks) => marks.map((m) => m.innerText.toLowerCase())), [word, word]);

  // Live lines are filtered too.
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  await ingestText(env.vigie, 'demo', 'worker', `INFO unrelated\nERROR third ${word}`);
  await page.locator('.log-row', { hasText: 'third' }).waitFor({ timeout: 10_000 });
  assert.equal((await rowTexts(page)).length, 3, 'the unrelated live line is not shown');
  await page.screenshot({ path: join(artifacts, 'logs-filtered.png') });

  // The same URL, reloaded or opened elsewhere, shows the same view.
  const shared = page.url();
  await page.reload();
  assert.equal(await page.locator('#filter').inputValue(), word);
  assert.equal((await rowTexts(page)).length, 3);
  const other = await signedInPage(env.browser, env.vigie);
  await other.goto(shared);
  assert.equal((await rowTexts(other)).length, 3, 'a shared link restores the view');
  await other.close();

  // Download gives the same lines, as NDJSON.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-ndjson').click()]);
  assert.match(download.suggestedFilename(), /^demo-worker-service-\d+\.ndjson$/);
  const lines = (await readFile(await download.path(), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => line.message), [`ERROR payment ${word} refused`, `WARN ${word.toUpperCase()} again`, `ERROR third ${word}`]);
  await page.close();
});

test('a bad filter points at the character where it went wrong', async () => {
  const page = await signedInPage(env.browser, env.vigie);
  await page.goto(logs(`?q=${encodeURIComponent('status>=abc level>=loud')}`));
  const problem = page.getByTestId('filter-problem');
  await problem.waitFor();
  assert.match(await problem.innerText(), /At character \d+: expected .+/);
  assert.equal(await page.locator('#filter').getAttribute('aria-invalid'), 'true');
  await page.getByRole('heading', { name: 'Fix the view to see lines' }).waitFor();
  assert.equal(await page.getByTestId('live-status').count(), 0, 'nothing is followed with a broken filter');
  await page.screenshot({ path: join(artifacts, 'logs-bad-filter.png') });
  await page.close();
});

test('pause keeps receiving and counts new lines; resume shows them in order', async () => {
  const word = `pause${Date.now()}`;
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(logs(`?q=${word}`));
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  await page.locator('body').press(' ');
  assert.equal(await page.getByTestId('pause').getAttribute('aria-pressed'), 'true', 'space pauses');
  await ingestText(env.vigie, 'demo', 'worker', [1, 2, 3].map((n) => `INFO ${word} #${n}`).join('\n'));
  await page.getByTestId('new-lines').filter({ hasText: '3 new lines' }).waitFor({ timeout: 10_000 });
  assert.equal((await rowTexts(page)).length, 0, 'the view did not move while paused');
  await page.screenshot({ path: join(artifacts, 'logs-paused.png') });
  await page.getByTestId('pause').click();
  await page.locator('.log-row', { hasText: `${word} #3` }).waitFor();
  assert.deepEqual(await rowTexts(page), [1, 2, 3].map((n) => `INFO ${word} #${n}`));
  const offsets = await shownOffsets(page);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  await page.close();
});

test('a replayed range shows exactly its lines, then can continue live', async () => {
  const word = `range${Date.now()}`;
  const minute = 60_000;
  const now = Date.now();
  await ingestNdjson(env.vigie, 'demo', 'worker', [50, 40, 30, 20, 10].map((ago) => ({
    ts: new Date(now - ago * minute).toISOString(),
    message: `${word} ${ago} minutes ago`,
  })));
  const since = new Date(now - 45 * minute).toISOString();
  const until = new Date(now - 15 * minute).toISOString();
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(logs(`?q=${word}&since=${since}&until=${until}`));
  await page.getByTestId('live-status').filter({ hasText: 'Replay' }).waitFor();
  assert.deepEqual(await rowTexts(page), [40, 30, 20].map((ago) => `${word} ${ago} minutes ago`));
  await page.screenshot({ path: join(artifacts, 'logs-replay.png') });

  await page.getByRole('button', { name: /Continue live/ }).click();
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  await ingestText(env.vigie, 'demo', 'worker', `INFO ${word} now`);
  await page.locator('.log-row', { hasText: `${word} now` }).waitFor({ timeout: 10_000 });
  // From the range's end on: the line of 10 minutes ago comes too, once.
  assert.deepEqual(await rowTexts(page), [40, 30, 20, 10].map((ago) => `${word} ${ago} minutes ago`).concat(`INFO ${word} now`));
  await page.close();
});

test('a replayed range of 30,000 lines loads whole, keeps few rows in the DOM, and scrolls to any of them', async () => {
  const word = `bulk${Date.now()}`;
  const start = Date.now() - 60 * 60_000;
  for (let batch = 0; batch < 3; batch += 1) {
    await ingestNdjson(env.vigie, 'demo', 'worker', Array.from({ length: 10_000 }, (_, i) => {
      const n = batch * 10_000 + i;
      return { ts: new Date(start + n).toISOString(), message: `${word} #${n}` };
    }));
  }
  const since = new Date(start - 1_000).toISOString();
  const until = new Date(start + 40_000).toISOString();
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(logs(`?q=${word}&since=${since}&until=${until}`));
  await page.getByTestId('line-count').filter({ hasText: '30,000 lines' }).waitFor({ timeout: 15_000 });
  await page.getByTestId('range-note').waitFor({ state: 'detached' });
  const numbers = async () => (await rowTexts(page)).map((text) => Number(text.match(/#(\d+)/)[1]));
  const consecutive = (list) => list.every((n, i) => i === 0 || n === list[i - 1] + 1);

  const top = await numbers();
  assert.equal(top[0], 0, 'the range starts at its first line');
  assert.ok(top.length > 20 && top.length < 150, `${top.length} rows in the DOM, not 30,000`);
  assert.ok(consecutive(top), `${top}`);

  // Halfway down, the rows there are in the DOM, in order, and few.
  await page.getByTestId('log-lines').evaluate((list) => { list.scrollTop = list.scrollHeight / 2; });
  await page.waitForFunction(() => document.querySelector('[data-testid=log-lines] .log-row .log-msg')?.innerText.match(/#(\d+)/)?.[1] > 10_000);
  const middle = await numbers();
  assert.ok(middle.includes(15_000) && consecutive(middle) && middle.length < 150, `${middle[0]}..${middle.at(-1)}`);

  // At the end: the range's last line.
  await page.getByTestId('log-lines').evaluate((list) => { list.scrollTop = list.scrollHeight; });
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=log-lines] .log-row .log-msg')].some((row) => row.innerText.endsWith('#29999')));
  const end = await numbers();
  assert.equal(end.at(-1), 29_999);
  assert.ok(consecutive(end) && end.length < 150, `${end[0]}..${end.at(-1)}`);
  await page.screenshot({ path: join(artifacts, 'logs-replay-30000.png') });
  await page.close();
});

test('access logs are a table whose 5xx status, once clicked, filters to server errors', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs`);
  await page.getByRole('link', { name: 'Access logs' }).click();
  await page.waitForURL('**/logs?kind=access');
  await page.getByRole('columnheader', { name: 'Status' }).waitFor();
  const rows = page.locator('[data-testid=log-lines] .access-row:not(.access-head)');
  await rows.first().waitFor();
  // The demo serves some 5xx; wait for one if none is on the page yet.
  const fiveHundred = page.locator('.access-status.status-badge-5xx a').first();
  await fiveHundred.waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(artifacts, 'access-logs.png') });
  await fiveHundred.click();
  await page.waitForURL('**/logs?kind=access&q=status%3A5xx');
  await rows.first().waitFor();
  const statuses = await page.$$eval('[data-testid=log-lines] .access-row:not(.access-head) .access-status', (cells) =>
    cells.map((cell) => Number(cell.innerText)));
  assert.ok(statuses.length > 0 && statuses.every((status) => status >= 500 && status < 600), `${statuses}`);
  assert.equal(await page.locator('#filter').inputValue(), 'status:5xx');
  await page.close();
});

test('times switch between UTC and local time, and the choice is remembered', async () => {
  const page = await signedInPage(env.browser, env.vigie, { timezoneId: 'Asia/Tokyo' });
  await page.goto(logs());
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  // Paused, so the rows in sight stay those rows.
  await page.getByTestId('pause').click();
  const firstTime = () => page.locator('[data-testid=log-lines] .log-row .log-time').first().innerText();
  const hours = (clock) => Number(clock.slice(0, 2));
  const utc = await firstTime();
  await page.getByTestId('time-zone').filter({ hasText: 'in UTC' }).click();
  await page.getByTestId('time-zone').filter({ hasText: 'in local time' }).waitFor();
  const local = await firstTime();
  assert.equal((hours(local) - hours(utc) + 24) % 24, 9, `Tokyo is UTC+9: ${utc} → ${local}`);
  assert.equal(local.slice(2), utc.slice(2), 'minutes, seconds and milliseconds stay');
  await page.reload();
  await page.getByTestId('time-zone').filter({ hasText: 'in local time' }).waitFor();
  await page.getByTestId('time-zone').click();
  await page.getByTestId('time-zone').filter({ hasText: 'in UTC' }).waitFor();
  await page.close();
});

test('a click on a line shows all its fields and copies it; j and k move between lines', async () => {
  const word = `fields${Date.now()}`;
  await ingestNdjson(env.vigie, 'demo', 'worker', [
    { message: `${word} first`, level: 'info', order_id: 41 },
    { message: `${word} second`, level: 'error', order_id: 42, customer: 'ada' },
  ]);
  const page = await signedInPage(env.browser, env.vigie, { permissions: ['clipboard-read', 'clipboard-write'] });
  await page.goto(logs(`?q=${word}`));
  await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
  await page.locator('.log-row', { hasText: `${word} second` }).click();
  const details = page.getByTestId('line-details');
  await details.waitFor();
  const shown = await details.locator('.details-json').innerText();
  assert.match(shown, /"customer": "ada"/);
  assert.match(shown, /"order_id": 42/);
  await details.getByRole('button', { name: 'Copy line' }).click();
  await details.getByRole('button', { name: 'Copied ✓' }).waitFor();
  const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  assert.equal(copied.message, `${word} second`);
  assert.equal(copied.fields.customer, 'ada');

  await page.locator('body').press('k');
  await page.locator('.log-row.selected', { hasText: `${word} first` }).waitFor();
  await page.locator('body').press('j');
  await page.locator('.log-row.selected', { hasText: `${word} second` }).waitFor();
  assert.equal(await page.getByTestId('line-details').count(), 1, 'one line open at a time');
  await page.screenshot({ path: join(artifacts, 'logs-line-details.png') });
  await page.close();
});
