// An org admin changes an app's retention in the console, sees what it
// means for storage before saving, and finds the change in the audit log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, signedInPage, demoForTests } from './vigie.mjs';

const env = demoForTests();

test('a retention change shows its storage estimate, is saved, and appears in the audit log', async () => {
  const page = await signedInPage(env.browser, env.vigie, { viewport: { width: 1280, height: 800 } });
  await page.goto(`${env.vigie.url}/orgs/demo/apps/api/logs`);
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.waitForURL('**/orgs/demo/apps/api/settings');
  const service = page.getByTestId('retention-service');
  await service.getByText(/Now: [\d,]+ lines/).waitFor();

  const days = page.getByLabel('Service logs: days to keep');
  await days.fill('7');
  await page.getByTestId('estimate-service').filter({ hasText: /keeps about [\d.]+ [kMG]?B on disk/ }).waitFor();
  await page.screenshot({ path: join(artifacts, 'app-settings.png') });
  await service.getByRole('button', { name: 'Save' }).click();
  await page.getByTestId('saved').filter({ hasText: 'service logs retention changed' }).waitFor();
  await service.getByText('Kept for 7 days').waitFor();

  await page.goto(`${env.vigie.url}/orgs/demo`);
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL('**/orgs/demo/audit');
  const row = page.getByTestId('audit').locator('tbody tr').first();
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[1], 'user demo');
  assert.equal(cells[2], 'retention.changed');
  assert.equal(cells[3], 'app api service logs');
  assert.equal(cells[4], '127.0.0.1');
  assert.match(cells[5], /"max_age_secs":604800/);
  await page.screenshot({ path: join(artifacts, 'audit-log.png') });
  await page.close();
});
