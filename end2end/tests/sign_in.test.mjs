// Signing in to the console in a real browser: the form, a wrong password,
// signing out, and that a user of one org cannot open another org's app
// by typing its URL.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, scratchDataDir, startVigie, launchChromium, signedInPage, DEMO_USER } from './vigie.mjs';

let vigie;
let browser;

before(async () => {
  vigie = await startVigie({ dataDir: scratchDataDir(), args: ['--demo'] });
  assert.ok(vigie.admin, 'a first start prints the first administrator');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await vigie?.stop();
});

test('opening a page signed out leads through the sign-in form back to that page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${vigie.url}/orgs/demo/apps/api/logs`);
  await page.waitForURL('**/signin?next=*');
  await page.getByRole('heading', { name: 'Sign in to Vigie' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'sign-in.png') });
  await page.getByLabel('Login').fill(DEMO_USER.login);
  await page.getByLabel('Password').fill(DEMO_USER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/orgs/demo/apps/api/logs');
  await page.getByRole('heading', { name: 'Orders API' }).waitFor();
  await page.getByText('Demo user').waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === 'vigie_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('vigie_session')), false, 'scripts cannot read it');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/signin?signed_out=1');
  await page.getByText('You are signed out.').waitFor();
  await page.goto(`${vigie.url}/orgs/demo`);
  await page.waitForURL('**/signin?next=*');
  await context.close();
});

test('a wrong password says so and keeps the login typed', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${vigie.url}/signin`);
  await page.getByLabel('Login').fill('demo');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong login or password.' }).waitFor();
  assert.equal(await page.getByLabel('Login').inputValue(), 'demo');
  await page.screenshot({ path: join(artifacts, 'sign-in-wrong-password.png') });
  await context.close();
});

test("a user of another org cannot open the demo org's app by its URL", async () => {
  const page = await signedInPage(browser, vigie, { user: vigie.admin });
  await page.goto(`${vigie.url}/`);
  await page.getByRole('heading', { name: 'Organisations' }).waitFor();
  assert.equal(await page.getByRole('link', { name: /Acme Demo/ }).count(), 0, 'the demo org is not listed');
  await page.goto(`${vigie.url}/orgs/demo/apps/api/logs`);
  await page.getByRole('heading', { name: 'No such app' }).waitFor();
  assert.equal(await page.locator('.log-row').count(), 0, 'not one of its lines is shown');
  const stream = await page.evaluate(async () => (await fetch('/bff/orgs/demo/apps/api/live')).status);
  assert.equal(stream, 404, 'nor can its live stream be opened');
  await page.screenshot({ path: join(artifacts, 'other-org-app.png') });
  await page.close();
});

// Last in this file: it makes the first administrator a member of the demo org too.
test('a member of two orgs switches between them from the top bar; a session ended in another tab says so', async () => {
  const added = await fetch(`${vigie.url}/api/v1/orgs/demo/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${vigie.token}` },
    body: JSON.stringify({ login: vigie.admin.login, role: 'member' }),
  });
  assert.equal(added.status, 201, await added.text());
  const page = await signedInPage(browser, vigie, { user: vigie.admin });
  await page.goto(`${vigie.url}/orgs/demo`);
  const switcher = page.getByTestId('org-switcher');
  await switcher.getByText('Organisations').click();
  await page.screenshot({ path: join(artifacts, 'org-switcher.png') });
  const names = await switcher.getByRole('link').allInnerTexts();
  assert.equal(names.length, 2, `${names}`);
  assert.ok(names.includes('Acme Demo'), `${names}`);
  await switcher.getByRole('link', { name: names.find((name) => name !== 'Acme Demo') }).click();
  await page.waitForURL((url) => url.pathname === '/orgs/main');
  const title = await page.locator('.viewer-name').getAttribute('title');
  assert.match(title, /the session ends \d{4}-\d\d-\d\d \d\d:\d\d UTC/);

  // Signing out in another tab of the same browser ends this tab's session.
  const other = await page.context().newPage();
  await other.goto(`${vigie.url}/orgs/main`);
  await other.getByRole('button', { name: 'Sign out' }).click();
  await other.waitForURL('**/signin?signed_out=1');
  await other.close();

  // The next page this tab asks for finds the session ended and says so,
  // on the way to the sign-in form that brings the viewer back there.
  await switcher.getByText('Organisations').click();
  await switcher.getByRole('link', { name: 'Acme Demo' }).click();
  await page.waitForURL('**/signin?expired=1&next=*');
  await page.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor();
  assert.equal(await page.locator('input[name=next]').inputValue(), '/orgs/demo');
  await page.close();
});

test('an open live view whose session ends elsewhere is sent to sign in by the stream itself', async () => {
  const page = await signedInPage(browser, vigie);
  await page.goto(`${vigie.url}/orgs/demo/apps/api/logs`);
  await page.locator('.live-status.live').waitFor();
  // Sign out from another tab: this tab does nothing, its live stream's
  // next re-check (every 5 s) ends it with the reason.
  const other = await page.context().newPage();
  await other.goto(`${vigie.url}/orgs/demo`);
  await other.getByRole('button', { name: 'Sign out' }).click();
  await other.waitForURL('**/signin?signed_out=1');
  await other.close();
  await page.waitForURL('**/signin?expired=1&next=*', { timeout: 20_000 });
  await page.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor();
  assert.equal(await page.locator('input[name=next]').inputValue(), '/orgs/demo/apps/api/logs');
  await page.close();
});
