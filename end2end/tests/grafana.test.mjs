// An org admin turns Grafana on from the org page, then clicks RESET ALL
// DASHBOARDS: a confirmation says what is lost, the org's Grafana token
// rotates (the masked token changes, the old secret stops working, the new
// one reads Vigie's Prometheus API), and the reset is in the audit log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, signedInPage, demoForTests } from './vigie.mjs';

const env = demoForTests();

/** The org's Grafana token secret, from the file provisioning the API exports. */
async function grafanaSecret() {
  const response = await fetch(`${env.vigie.url}/api/v1/orgs/demo/grafana/export`, {
    headers: { authorization: `Bearer ${env.vigie.token}` },
  });
  assert.equal(response.status, 200, await response.clone().text());
  const { files } = await response.json();
  const datasource = files.find((file) => file.path === 'provisioning/datasources/vigie.yaml').content;
  return JSON.parse(datasource.match(/basicAuthPassword: (".*")/)[1]);
}

/** A query as Grafana's data source sends it: basic auth with the token as password. */
async function prometheusStatus(secret) {
  const response = await fetch(`${env.vigie.url}/prometheus/api/v1/query?query=1%2B1`, {
    headers: { authorization: `Basic ${Buffer.from(`grafana:${secret}`).toString('base64')}` },
  });
  return response.status;
}

test('RESET ALL DASHBOARDS asks first, then rotates the org\'s Grafana token', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.vigie.url}/orgs/demo`);
  const section = page.getByTestId('grafana');
  await section.getByRole('heading', { name: 'Metrics in Grafana' }).waitFor();
  await section.getByTestId('grafana-enabled').filter({ hasText: 'Disabled' }).waitFor();

  await section.getByRole('button', { name: 'Enable' }).click();
  await section.getByTestId('grafana-enabled').filter({ hasText: 'Enabled' }).waitFor();
  const tokenBefore = await section.getByTestId('grafana-token').innerText();
  assert.match(tokenBefore, /^vgt_\w{4}…$/, 'shown masked');
  const secretBefore = await grafanaSecret();
  assert.ok(!(await page.content()).includes(secretBefore), 'the secret is never on the page');
  assert.equal(await prometheusStatus(secretBefore), 200);

  // The reset asks first, saying what is lost.
  const confirm = section.getByRole('button', { name: 'Yes, reset all dashboards' });
  assert.equal(await confirm.isVisible(), false);
  await section.getByTestId('grafana-reset').click();
  await section.getByText('edits made there are lost').waitFor();
  await page.screenshot({ path: join(artifacts, 'grafana-reset.png') });
  await confirm.click();
  await page.getByTestId('grafana-outcome').filter({ hasText: 'back to their initial state' }).waitFor();
  await section.getByTestId('grafana-token').filter({ hasNotText: tokenBefore }).waitFor();

  const secretAfter = await grafanaSecret();
  assert.notEqual(secretAfter, secretBefore);
  assert.equal(await prometheusStatus(secretBefore), 401, 'the old token stopped working');
  assert.equal(await prometheusStatus(secretAfter), 200, 'the new one works');

  await page.goto(`${env.vigie.url}/orgs/demo/audit`);
  const row = page.getByTestId('audit').locator('tbody tr').first();
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[1], 'user demo');
  assert.equal(cells[2], 'grafana.reset');
  await page.close();
});
