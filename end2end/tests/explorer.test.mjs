// The logs page's explorer as a user reads it: the volume histogram's
// steps are what the stats endpoint counts for the same view; a field's
// value narrows the lines and the URL; alt-click leaves it out; a drag
// across the histogram replays that range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, demoForTests, signedInPage } from './vigie.mjs';

const env = demoForTests();

async function stats(query, app = 'web') {
  const response = await fetch(`${env.vigie.url}/api/v1/orgs/demo/apps/${app}/logs/stats?${query}`, {
    headers: { authorization: `Bearer ${env.vigie.token}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

test('the histogram counts what the stats endpoint counts, and a field value narrows the view', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  // A replayed range that has ended, so both counts see the same lines
  // (3 minutes: a debug bundle takes a while to take in a long range).
  // Ended a minute ago: no line still on its way into it.
  const until = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000).toISOString().replace('.000', '');
  const since = new Date(Date.parse(until) - 3 * 60_000).toISOString().replace('.000', '');
  // The demo writes its history (one batch a topic) after it starts serving: wait for it.
  while ((await stats(`kind=access&since=${since}&until=${until}`)).total === 0) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs?kind=access&since=${since}&until=${until}`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  const chart = page.locator('[data-chart="logs.volume"]');
  await chart.waitFor();

  // The histogram's table: per step, its count per status class.
  const columns = await chart.locator('thead th').allTextContents();
  const rows = await chart.locator('tbody tr').evaluateAll((rows) =>
    rows.map((row) => [Number(row.dataset.tsMs), [...row.querySelectorAll('td')].map((cell) => Number(cell.dataset.value || 0))]));
  const step = rows.length > 1 ? rows[1][0] - rows[0][0] : 60_000;
  const answer = await stats(`kind=access&since=${since}&until=${until}&step=${step / 1000}s`);
  const buckets = answer.buckets.filter((bucket) => bucket.total > 0);
  assert.ok(buckets.length > 0);
  assert.equal(rows.length, buckets.length);
  for (const bucket of buckets) {
    const row = rows.find(([ts]) => ts === Math.floor(bucket.start_ns / 1e6));
    assert.ok(row, `a row for ${bucket.start_ns}`);
    columns.slice(1).forEach((klass, at) => assert.equal(row[1][at], bucket.counts[klass] ?? 0, `${klass} at ${row[0]}`));
  }
  assert.equal(await page.getByTestId('explorer-total').textContent(), `${answer.total.toLocaleString('en-US')} matching lines in the range shown`);
  await page.screenshot({ path: join(artifacts, 'explorer.png') });

  // The top method, as the endpoint ranks it, narrows the view.
  const methods = await stats(`kind=access&since=${since}&until=${until}&by=method&top=5`);
  const top = methods.top[0];
  const facet = page.locator('.facet[data-field="method"]');
  assert.equal(await facet.locator('li').first().textContent(), `${top.value} ${top.count.toLocaleString('en-US')} −`);
  await facet.getByRole('link', { name: top.value, exact: true }).click();
  await page.waitForURL((url) => url.searchParams.get('q') === `method:${top.value}`);
  await page.locator('[data-chart="logs.volume"]').waitFor();

  // Alt-click on a status leaves it out.
  const status = page.locator('.facet[data-field="status"] .facet-value').first();
  const code = await status.textContent();
  await status.click({ modifiers: ['Alt'] });
  await page.waitForURL((url) => url.searchParams.get('q') === `method:${top.value} -status:${code}`);
  await page.close();
});

test('a drag across the histogram replays that range', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs?kind=access`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  const overlay = page.locator('[data-chart="logs.volume"] .chart-overlay');
  await overlay.waitFor();
  const box = await overlay.boundingBox();
  await page.mouse.move(box.x + box.width * 0.85, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2, { steps: 4 });
  await page.mouse.up();
  await page.waitForURL(/logs\?kind=access&since=[^&]+&until=[^&]+$/);
  const url = new URL(page.url());
  const span = Date.parse(url.searchParams.get('until')) - Date.parse(url.searchParams.get('since'));
  assert.ok(span > 5 * 60_000 && span < 12 * 60_000, `${span} ms`);
  await page.getByText('Continue live').or(page.getByTestId('range-note')).first().waitFor();
  await page.close();
});

test('a line\'s context shows the lines around it, whatever the filter, the line marked', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  // A replayed range: the list stays still while the line is picked.
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs?kind=access&q=status%3A200&since=5m`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  const row = page.locator('.log-row[data-offset]').nth(5);
  await row.waitFor();
  await row.click();
  const details = page.getByTestId('line-details');
  // The line selected, as its details say (live lines may have moved the list).
  const offset = Number((await details.locator('.details-bar .muted').textContent()).match(/^Offset (\d+)/)[1]);
  await details.getByRole('button', { name: 'Show context' }).click();
  const context = page.getByTestId('line-context');
  await context.waitFor();
  const offsets = await context.locator('li').evaluateAll((items) => items.map((item) => Number(item.dataset.offset)));
  assert.deepEqual(offsets, Array.from({ length: 41 }, (_, at) => offset - 20 + at), 'consecutive: unfiltered');
  assert.equal(Number(await context.locator('li[aria-current=true]').getAttribute('data-offset')), offset);
  await page.close();
});

test('scrolling up the live lines reads the lines before them, the same ones the Logs API gives', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs`);
  const list = page.locator('[data-testid="log-lines"][data-hydrated]');
  await list.waitFor();
  const lines = () => page.getByTestId('line-count').textContent().then((text) => Number(text.replace(/[^\d]/g, '')));
  const before = await lines();
  // The live page starts with the newest lines. At the top of them, older
  // ones load above, and the list moves down by as many rows, so what was
  // in sight stays in sight. (A live batch may snap the list back to the
  // newest line before the scroll lets go of it, which also moves the list
  // down: only more lines counted say the older ones came. Scroll up again.)
  await page.waitForFunction((before) => {
    const list = document.querySelector('[data-testid="log-lines"]');
    const count = Number(document.querySelector('[data-testid="line-count"]').textContent.replace(/[^\d]/g, ''));
    if (count > before) return list.scrollTop >= 22 * 20;
    if (list.scrollTop !== 0) list.scrollTop = 0;
    return false;
  }, before);
  assert.ok((await lines()) >= before + 1, 'older lines were added');
  // The line in sight at the top, and the one before it (loaded last) is drawn: nothing skipped between.
  const inSight = await list.evaluate((element) => {
    const box = element.getBoundingClientRect();
    return Number(document.elementFromPoint(box.left + 40, box.top + 12)?.closest('.log-row')?.dataset.offset);
  });
  assert.ok(inSight > 0, `${inSight} in sight`);
  assert.equal(await list.locator(`.log-row[data-offset="${inSight - 1}"]`).count(), 1);

  // At the top now: the lines before it, the same ones the Logs API gives.
  await page.waitForFunction(() => {
    const list = document.querySelector('[data-testid="log-lines"]');
    if (list.scrollTop !== 200) list.scrollTop = 200;
    return list.querySelector('.log-window').style.transform === 'translateY(0px)';
  });
  const top = await list.locator('.log-row').evaluateAll((rows) => rows.slice(0, 5).map((row) => Number(row.dataset.offset)));
  assert.ok(top[0] < inSight, `${top[0]} before ${inSight}`);
  const response = await fetch(
    `${env.vigie.url}/api/v1/orgs/demo/apps/web/logs?kind=service&order=asc&from=${top[0]}&limit=5`,
    { headers: { authorization: `Bearer ${env.vigie.token}` } },
  );
  assert.equal(response.status, 200);
  assert.deepEqual(top, (await response.json()).records.map((record) => record.offset));
  await page.close();
});

test('a view saved from the logs page is listed on the org page, opens the same view, and is audited', async () => {
  // The table needs a server error in the last hour: the demo answers some, live.
  while ((await stats('kind=access&since=1h&q=status%3A5xx')).total === 0) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/web/logs?kind=access&q=status%3A5xx&since=1h`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  // The table's columns: the user agent shown, the bytes hidden, in the URL.
  const heads = () => page.locator('.access-head [role=columnheader]').allInnerTexts();
  await page.locator('.access-head').waitFor();
  assert.deepEqual(await heads(), ['Time', 'Method', 'Path', 'Status', 'Duration', 'Bytes', 'Client']);
  const menu = page.getByTestId('columns-menu');
  // The menu stays open after a choice, for the next one.
  const choose = async (name) => {
    if ((await menu.getAttribute('open')) === null) await menu.getByText('Columns', { exact: true }).click();
    await menu.getByRole('menuitemcheckbox', { name }).click();
  };
  await choose('User agent');
  await page.waitForURL((url) => url.searchParams.get('cols') === 'method,path,status,duration,bytes,client,agent');
  await choose('Bytes');
  const columns = ['Time', 'Method', 'Path', 'Status', 'Duration', 'Client', 'User agent'];
  await page.waitForFunction((expected) => [...document.querySelectorAll('.access-head [role=columnheader]')]
    .map((head) => head.textContent).join() === expected.join(), columns);
  assert.equal(new URL(page.url()).searchParams.get('cols'), 'method,path,status,duration,client,agent');
  // Each row has a cell per column; the agent is the line's own.
  const first = page.locator('[data-testid="log-lines"] .log-row[data-offset]').first();
  await first.waitFor();
  const offset = Number(await first.getAttribute('data-offset'));
  const cells = await first.locator('[role=cell]').allInnerTexts();
  assert.equal(cells.length, columns.length);
  const response = await fetch(
    `${env.vigie.url}/api/v1/orgs/demo/apps/web/logs?kind=access&order=asc&from=${offset}&limit=1`,
    { headers: { authorization: `Bearer ${env.vigie.token}` } },
  );
  assert.equal(cells[6], (await response.json()).records[0].user_agent);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  const name = `5xx <b>web</b> ${Date.now()}`;
  await page.getByText('Save view', { exact: true }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const outcome = page.getByTestId('save-view-outcome');
  await outcome.getByRole('link', { name }).waitFor();

  // The same name again is refused, said for people.
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByTestId('save-view-outcome').filter({ hasText: 'already exists' }).waitFor();

  // Listed on the org page, as text; its link opens the same view.
  await page.goto(`${env.vigie.url}/orgs/demo`);
  const list = page.getByTestId('saved-views');
  const link = list.getByRole('link', { name });
  await link.waitFor();
  assert.equal(await list.locator('b').count(), 0, 'a name is text, never markup');
  const row = list.locator('tbody tr').filter({ hasText: name });
  assert.deepEqual(
    await row.locator('td').allInnerTexts().then((cells) => cells.slice(1, 6)),
    ['web', 'access', 'status:5xx', 'since 1h', 'Method, Path, Status, Duration, Client, User agent'],
  );
  await link.click();
  await page.waitForURL((url) => url.pathname === '/orgs/demo/apps/web/logs'
    && url.searchParams.get('kind') === 'access' && url.searchParams.get('q') === 'status:5xx' && url.searchParams.get('since') === '1h');
  assert.equal(await page.getByLabel('Filter').inputValue(), 'status:5xx');
  await page.locator('.access-head').waitFor();
  assert.deepEqual(await heads(), columns, 'the same columns');

  // Removed from the org page; both changes are in the audit log.
  await page.goto(`${env.vigie.url}/orgs/demo`);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  await page.getByRole('button', { name: `Remove the view ${name}` }).click();
  await page.getByTestId('saved-views').getByRole('link', { name }).waitFor({ state: 'detached' });
  await page.goto(`${env.vigie.url}/orgs/demo/audit`);
  const actions = await page.getByTestId('audit').locator('tbody tr').allInnerTexts();
  assert.ok(actions.some((row) => row.includes('view.removed')), 'view.removed audited');
  assert.ok(actions.some((row) => row.includes('view.saved')), 'view.saved audited');
  await page.close();
});

test('the fields of service lines are listed with their top values, as the stats endpoint counts them', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  const until = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000).toISOString().replace('.000', '');
  const since = new Date(Date.parse(until) - 3 * 60_000).toISOString().replace('.000', '');
  await page.goto(`${env.vigie.url}/orgs/demo/apps/api/logs?since=${since}&until=${until}`);
  const facet = page.locator('.facet[data-field="fields.route"]');
  await facet.waitFor();
  // Identifiers (every trace_id different) are left out.
  assert.equal(await page.locator('.facet[data-field="fields.trace_id"]').count(), 0);
  const answer = await stats(`since=${since}&until=${until}&by=fields.route&top=5`, 'api');
  const shown = await facet.locator('.facet-value').allTextContents();
  assert.deepEqual(shown, answer.top.map((value) => value.value));
  await facet.locator('.facet-value').first().click();
  const value = answer.top[0].value;
  const term = /^[\w\-./]+$/.test(value) ? `fields.route:${value}` : `fields.route:"${value}"`;
  await page.waitForURL((url) => url.pathname === '/orgs/demo/apps/api/logs' && url.searchParams.get('q') === term);
  await page.close();
});
