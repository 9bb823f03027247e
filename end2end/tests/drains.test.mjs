// An org admin adds a drain to an app in the console, sees the form follow
// the recipient type, watches the demo's lines reach a local HTTP
// recipient, checks, disables (after saying yes), enables and deletes the
// drain; the org has its own Drains page for its audit log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { artifacts, launchChromium, noPageErrors, scratchDataDir, signedInPage, startVigie } from './vigie.mjs';

const env = { vigie: undefined, browser: undefined, recipient: undefined, received: [] };

before(async () => {
  // A raw-http recipient: keeps the NDJSON records it is sent, answers 200.
  env.recipient = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      for (const line of body.toString('utf8').split('\n').filter(Boolean)) env.received.push(JSON.parse(line));
      response.writeHead(200).end('ok');
    });
  });
  await new Promise((resolve) => env.recipient.listen(0, '127.0.0.1', resolve));
  env.vigie = await startVigie({
    dataDir: scratchDataDir(),
    args: ['--demo', '--drain-allow-private-targets', '--drain-batch-wait-ms', '100'],
  });
  env.browser = await launchChromium();
});

after(async () => {
  await env.browser?.close();
  await env.vigie?.stop();
  env.recipient?.close();
});

/** Polls until `done()` holds, failing after `ms`. */
async function until(done, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('an admin adds, checks, disables, enables and deletes an app drain, and the lines arrive', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  const checkErrors = noPageErrors(page);
  await page.goto(`${env.vigie.url}/orgs/demo/apps/api/logs`);
  await page.getByRole('link', { name: 'Drains' }).click();
  await page.waitForURL('**/orgs/demo/apps/api/drains');
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByText('No drains yet').waitFor();

  const form = page.getByTestId('new-drain');
  // The fields follow the type: Datadog asks for an API key and no user name.
  await form.getByLabel('Recipient').selectOption('datadog');
  await form.getByLabel('API key').waitFor();
  assert.equal(await form.getByLabel('User name').isVisible(), false);
  await form.getByLabel('Recipient').selectOption('raw-http');
  await form.getByLabel('User name').waitFor();

  const url = `http://127.0.0.1:${env.recipient.address().port}/in`;
  await form.getByLabel('URL').fill(url);
  await form.getByRole('button', { name: 'Add drain' }).click();
  const row = page.getByTestId('drain-1');
  await row.waitFor();
  assert.match(await row.innerText(), /LOG[\s\S]*raw-http[\s\S]*ENABLED/);

  // The demo logs all the time: its lines reach the recipient.
  await until(() => env.received.some((record) => record.app === 'api' && record.kind === 'LOG'), 'demo lines');
  // The list is read again while the page is open: the delivery shows without a reload.
  await page.getByTestId('drain-1').getByText(/delivered \d{4}-\d\d-\d\d/).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'app-drains.png') });

  await row.getByRole('button', { name: 'Check' }).click();
  await page.getByTestId('drain-outcome').filter({ hasText: 'took the test message (HTTP 200' }).waitFor();
  await until(() => env.received.some((record) => /Vigie drain check/.test(record.message ?? '')), 'the check message');

  await page.getByTestId('drain-1').getByRole('button', { name: 'Disable' }).click();
  const confirm = page.getByRole('alertdialog');
  await confirm.getByText('Disable drain 1?').waitFor();
  await confirm.getByRole('button', { name: 'Yes, disable' }).click();
  await page.getByTestId('drain-1').filter({ hasText: 'DISABLED' }).waitFor();

  await page.getByTestId('drain-1').getByRole('button', { name: 'Enable' }).click();
  await page.getByTestId('drain-1').filter({ hasText: 'ENABLED' }).waitFor();

  await page.getByTestId('drain-1').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.getByRole('alertdialog').count(), 0, 'cancel asks nothing more');
  await page.getByTestId('drain-1').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Yes, delete' }).click();
  await page.getByText('No drains yet').waitFor();

  // Every change is in the org's audit log, as the user.
  await page.goto(`${env.vigie.url}/orgs/demo/audit`);
  const actions = await page.getByTestId('audit').locator('tbody tr td:nth-child(3)').allInnerTexts();
  for (const action of ['drain.created', 'drain.disabled', 'drain.enabled', 'drain.removed']) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  checkErrors();
  await page.close();
});

test('the org page leads to the audit-log drains, where one is added', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  const checkErrors = noPageErrors(page);
  await page.goto(`${env.vigie.url}/orgs/demo`);
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByRole('navigation', { name: 'This organisation' }).getByRole('link', { name: 'Drains' }).click();
  await page.waitForURL('**/orgs/demo/drains');
  const section = page.getByTestId('org-drains');
  await section.getByRole('heading', { name: 'Audit log drains' }).waitFor();
  await section.getByText('No drains yet').waitFor();
  await section.getByLabel('URL').fill(`http://127.0.0.1:${env.recipient.address().port}/audit`);
  await section.getByRole('button', { name: 'Add drain' }).click();
  await section.locator('tbody tr').filter({ hasText: 'AUDITLOG' }).waitFor();
  // The drain's own creation is an audit record: it is forwarded.
  await until(() => env.received.some((record) => record.kind === 'AUDITLOG' && record.action === 'drain.created'), 'the audit record');
  await page.screenshot({ path: join(artifacts, 'org-drains.png') });
  // A link to the page opens it as it is, for another admin too.
  await page.goto(`${env.vigie.url}/orgs/demo/drains`);
  await page.getByTestId('org-drains').locator('tbody tr').filter({ hasText: 'AUDITLOG' }).waitFor();
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Acme Demo' }).click();
  await page.waitForURL('**/orgs/demo');
  checkErrors();
  await page.close();
});
