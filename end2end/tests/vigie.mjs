// What the browser tests share: starting a real `vigie serve` on a free
// port, and launching the system's Chromium through playwright-core.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

export const artifacts = join(root, 'end2end', 'test-results');
mkdirSync(artifacts, { recursive: true });

/** A fresh data directory for one test file. */
export function scratchDataDir() {
  return mkdtempSync(join(tmpdir(), 'vigie-e2e-'));
}

/**
 * Starts `vigie serve` and resolves once it prints its address (and, with
 * `--demo`, the demo token it prints at each start).
 * `listen` defaults to a free port; pass the same one to restart in place.
 */
export async function startVigie({ dataDir, listen = '127.0.0.1:0', args = [] }) {
  const bin = process.env.VIGIE_BIN ?? join(root, 'target', 'debug', 'vigie');
  // Syslog and statsd on free ports unless asked otherwise, so two servers never collide.
  for (const flag of ['--syslog-tcp', '--syslog-udp', '--statsd']) {
    if (!args.includes(flag)) args = [...args, flag, '127.0.0.1:0'];
  }
  const siteRoot = process.env.VIGIE_SITE_ROOT ?? join(root, 'target', 'site');
  const child = spawn(
    bin,
    ['serve', '--listen', listen, '--data-dir', dataDir, '--site-root', siteRoot, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const demo = args.includes('--demo');
  const { url, token, admin } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vigie did not start in 20 s:\n${stderr}`)), 20_000);
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const found = stdout.match(/Vigie console: (http:\/\/\S+?)\/?\s/);
      const demoToken = stdout.match(/Demo token [^:]*: (vgt_\w+)/);
      if (found && (!demo || demoToken)) {
        clearTimeout(timer);
        // Printed before the demo's lines, on a first start only.
        const admin = stdout.match(/First start: sign in as "(\w+)" with password (\S+) /);
        resolve({ url: found[1], token: demoToken?.[1], admin: admin && { login: admin[1], password: admin[2] } });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vigie exited with ${code} before serving:\n${stderr}`));
    });
  });
  return {
    url,
    /** With `--demo`: an admin token of the demo org. */
    token,
    /** On a first start: the first administrator (member of org "main" only). */
    admin,
    listen: new URL(url).host,
    /** Sends SIGTERM and resolves with the exit code once it has stopped. */
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
      child.kill('SIGCONT'); // if frozen
    }),
    /**
     * Stops the process without ending it (SIGSTOP): its connections stay
     * open and say nothing, as behind a proxy that lost the server.
     */
    freeze: () => child.kill('SIGSTOP'),
    /** Lets a frozen process go on where it was (SIGCONT). */
    thaw: () => child.kill('SIGCONT'),
  };
}

/** Debian's Chromium, headless, with nothing that reaches the network. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** POSTs plain-text service log lines to an app, as a shipper would. */
export async function ingestText(vigie, org, app, text) {
  const response = await fetch(`${vigie.url}/api/v1/orgs/${org}/apps/${app}/logs?instance=e2e-0`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', authorization: `Bearer ${vigie.token}` },
    body: text,
  });
  if (!response.ok) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** The demo's user, made by `--demo`. */
export const DEMO_USER = { login: 'demo', password: 'demo' };

/**
 * A new page in a fresh browser context, signed in through the sign-in
 * form as `user` (the demo user by default).
 */
export async function signedInPage(browser, vigie, { user = DEMO_USER, ...contextOptions } = {}) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  await page.goto(`${vigie.url}/signin`);
  await page.getByLabel('Login').fill(user.login);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/signin'));
  // The context goes with its page; the browser may be closing already.
  page.once('close', () => context.close().catch(() => {}));
  return page;
}

/**
 * Collects the page's script errors from now on, each with the message of
 * the Rust panic behind it (logged just before the WebAssembly traps with
 * a bare "unreachable"); the returned function fails the test on any.
 */
export function noPageErrors(page) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('panicked')) errors.push(message.text().split('\n\nStack')[0]);
  });
  return () => assert.deepEqual(errors, [], 'no script error in the page');
}

/** POSTs NDJSON service log lines (objects) to an app. */
export async function ingestNdjson(vigie, org, app, lines) {
  const response = await fetch(`${vigie.url}/api/v1/orgs/${org}/apps/${app}/logs?instance=e2e-0`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${vigie.token}` },
    body: lines.map((line) => JSON.stringify(line)).join('\n'),
  });
  if (!response.ok) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/**
 * For a test file: `vigie serve --demo` on a fresh data directory and a
 * Chromium, started before its tests and stopped after them. Read them as
 * `env.vigie` and `env.browser`.
 */
export function demoForTests() {
  const env = { vigie: undefined, browser: undefined };
  before(async () => {
    env.vigie = await startVigie({ dataDir: scratchDataDir(), args: ['--demo'] });
    env.browser = await launchChromium();
    // The demo writes its history after it starts serving, one batch a
    // topic, before any live line: once every log topic has lines, the
    // history is all there for the tests to read.
    const topics = [['api', 'service'], ['api', 'access'], ['web', 'service'], ['web', 'access'],
      ['worker', 'service'], ['pg-main', 'service']];
    for (const [app, kind] of topics) {
      for (;;) {
        const response = await fetch(`${env.vigie.url}/api/v1/orgs/demo/apps/${app}/logs/stats?kind=${kind}`, {
          headers: { authorization: `Bearer ${env.vigie.token}` },
        });
        if (response.ok && (await response.json()).total > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  after(async () => {
    await env.browser?.close();
    await env.vigie?.stop();
  });
  return env;
}
