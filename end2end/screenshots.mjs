// Screenshots of the console for the docs: each dashboard, light and dark,
// from `vigie serve --demo` with a day of demo history.
//
//   node end2end/screenshots.mjs [OUT_DIR]     (default docs/screenshots)
//   VIGIE_URL=http://127.0.0.1:3000 node end2end/screenshots.mjs   (a running demo)

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startVigie, scratchDataDir, launchChromium, signedInPage } from './tests/vigie.mjs';

const out = process.argv[2] ?? join(import.meta.dirname, '..', 'docs', 'screenshots');
mkdirSync(out, { recursive: true });
const PAGES = [
  ['overview', '/orgs/demo/apps/api'],
  ['metrics', '/orgs/demo/apps/api/metrics?range=6h'],
  ['http', '/orgs/demo/apps/api/http?range=6h'],
  ['map', '/orgs/demo/apps/api/map'],
  ['org', '/orgs/demo'],
];
const only = process.env.PAGES?.split(',');

// VIGIE_URL: a running `vigie serve --demo` to photograph instead of a new one.
const vigie = process.env.VIGIE_URL ? { url: process.env.VIGIE_URL, stop: async () => {} } : await startVigie({ dataDir: scratchDataDir(), args: ['--demo', '--demo-backfill-minutes', process.env.BACKFILL ?? '1440', '--syslog-tcp', 'off', '--syslog-udp', 'off', '--statsd', 'off'] });
const browser = await launchChromium();
try {
  for (const colorScheme of (process.env.SCHEMES ?? 'light,dark').split(',')) {
    const page = await signedInPage(browser, vigie, { colorScheme, viewport: { width: 1280, height: 900 } });
    for (const [name, path] of PAGES.filter(([name]) => !only || only.includes(name))) {
      await page.goto(`${vigie.url}${path}`);
      await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
      await page.screenshot({ path: join(out, `${name}-${colorScheme}.png`), fullPage: true });
      console.log(`${name}-${colorScheme}.png`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  await vigie.stop();
}
