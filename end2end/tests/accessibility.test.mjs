// An accessibility scan of every console page with axe-core: no serious or
// critical violation of WCAG 2 A/AA, in the light and the dark theme. The
// same walk checks that every page hydrates under the console's
// Content-Security-Policy without the browser reporting a violation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, signedInPage, demoForTests } from './vigie.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const env = demoForTests();

const PAGES = [
  ['organisations', '/'],
  ['org home', '/orgs/demo'],
  ['service logs', '/orgs/demo/apps/api/logs'],
  ['filtered logs with a mistake', '/orgs/demo/apps/api/logs?q=status%3E%3Dabc'],
  ['replayed range', '/orgs/demo/apps/api/logs?since=15m'],
  ['access logs', '/orgs/demo/apps/web/logs?kind=access'],
  ['app settings', '/orgs/demo/apps/api/settings'],
  ['server metrics', '/orgs/demo/apps/api/metrics?range=1h'],
  ['metrics with a wrong range', '/orgs/demo/apps/api/metrics?range=2h'],
  ['HTTP statistics', '/orgs/demo/apps/web/http?range=1h'],
  ['app overview', '/orgs/demo/apps/api'],
  ['request map', '/orgs/demo/apps/web/map'],
  ['realtime request map', '/orgs/demo/apps/web/map?mode=realtime'],
  ['custom metrics range', '/orgs/demo/apps/api/metrics?from=2026-11-25T14:00:00Z&to=2026-11-25T15:00:00Z'],
  ['audit log', '/orgs/demo/audit'],
  ['app drains', '/orgs/demo/apps/api/drains'],
  ['audit-log drains', '/orgs/demo/drains'],
];

/** Serious and critical violations on the page as it is now. */
async function violations(page) {
  // Evaluated by the test driver, as a developer's console would: the page's
  // own policy refuses inline scripts, as it should.
  await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.slice(0, 3).map((node) => node.target.join(' ')).join(', ')}`);
}

/**
 * Waits until the page runs in the browser: the app marks the body once
 * hydrated, and a log list marks itself once it has measured and drawn its
 * rows.
 */
async function hydrated(page) {
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
  if (await page.getByTestId('log-lines').count() > 0) {
    await page.locator('[data-testid=log-lines][data-hydrated]').waitFor({ state: 'attached' });
  }
}

for (const colorScheme of ['light', 'dark']) {
  test(`every page passes an axe scan in the ${colorScheme} theme`, async () => {
    const found = {};
    const signIn = await (await env.browser.newContext({ colorScheme })).newPage();
    await signIn.goto(`${env.vigie.url}/signin?error=wrong&login=demo`);
    found['sign-in'] = await violations(signIn);
    await signIn.context().close();

    const page = await signedInPage(env.browser, env.vigie, { colorScheme, viewport: { width: 1280, height: 800 } });
    const policyViolations = [];
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) policyViolations.push(`${page.url()}: ${message.text()}`);
    });
    for (const [name, path] of PAGES) {
      await page.goto(`${env.vigie.url}${path}`);
      await page.locator('main').waitFor();
      await hydrated(page);
      found[name] = await violations(page);
    }
    await page.close();
    assert.deepEqual(policyViolations, [], 'every page runs under its Content-Security-Policy');
    writeFileSync(join(artifacts, `axe-${colorScheme}.json`), JSON.stringify(found, null, 2));
    const failing = Object.entries(found).filter(([, list]) => list.length > 0);
    assert.deepEqual(failing, [], JSON.stringify(failing, null, 2));
  });
}
