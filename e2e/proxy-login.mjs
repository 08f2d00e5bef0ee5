#!/usr/bin/env node
// End-to-end login through `portcullis proxy` in a real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core; no browser download).
//
//   node e2e/proxy-login.mjs <gate-base-url>
//
// The gate protects an upstream whose /whoami echoes the request headers as
// JSON. Steps: /whoami sends the browser to the dev OP -> click alice -> back
// at /whoami, the upstream saw X-Forwarded-User: alice -> POST
// /oauth2/logout -> /whoami sends the browser to login again. Screenshots
// go to e2e/out/proxy-*.png. Exit 0 on success, 1 on failure, 2 on bad usage.

import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STEP_TIMEOUT_MS = 15_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

if (process.argv.length !== 3) {
  console.error('usage: node e2e/proxy-login.mjs <gate-base-url>');
  process.exit(2);
}
const base = new URL(process.argv[2]);
const at = (p) => new URL(p, base).href;
if (!existsSync(CHROMIUM)) {
  console.error(`proxy-login: FAIL: no Chromium at ${CHROMIUM}`);
  process.exit(1);
}
const { chromium } = await import('playwright-core');
mkdirSync(OUT_DIR, { recursive: true });
const userDataDir = mkdtempSync(path.join(tmpdir(), 'portcullis-proxy-chromium-'));
let context;
let page;
let step = 'start';
const fail = (message) => { throw new Error(message); };

async function run() {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    timeout: STEP_TIMEOUT_MS,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = context.pages()[0] ?? await context.newPage();

  step = 'a protected page sends the browser to the OP';
  await page.goto(at('/whoami'));
  const alice = page.locator('button[name=user][value=alice]');
  await alice.waitFor();
  const opOrigin = new URL(page.url()).origin;
  if (opOrigin === base.origin) fail('expected the OP sign-in page');
  await page.screenshot({ path: path.join(OUT_DIR, 'proxy-1-op-sign-in.png') });

  step = 'sign in as alice and come back to /whoami';
  await alice.click();
  await page.waitForURL((u) => u.origin === base.origin && u.pathname === '/whoami', { waitUntil: 'load' });
  const text = await page.locator('body').innerText();
  let echo;
  try { echo = JSON.parse(text); } catch { fail(`the upstream's echo is not JSON: ${text.slice(0, 300)}`); }
  const user = echo?.headers?.['x-forwarded-user'];
  if (JSON.stringify(user) !== '["alice"]') fail(`the upstream saw x-forwarded-user ${JSON.stringify(user)}`);
  await page.screenshot({ path: path.join(OUT_DIR, 'proxy-2-upstream-echo.png') });

  step = 'sign out';
  const out = await page.request.post(at('/oauth2/logout'), { maxRedirects: 0 });
  if (out.status() !== 302 && out.status() !== 303) fail(`logout answered ${out.status()}`);

  step = 'the protected page sends the browser to login again';
  // (The OP still has its own session, so a full navigation would sign
  // alice straight back in: look at the gate's answer itself.)
  const after = await page.request.get(at('/whoami'), { maxRedirects: 0, headers: { accept: 'text/html' } });
  const location = after.headers()['location'] ?? '';
  if (after.status() !== 302 || !location.startsWith('/oauth2/login')) {
    fail(`after logout /whoami answered ${after.status()} ${location}`);
  }
}

let code = 0;
try {
  await run();
  console.log(`proxy-login: ok: signed in through the gate as alice, the upstream saw the identity, signed out (${base.origin})`);
} catch (err) {
  code = 1;
  console.error(`proxy-login: FAIL at step "${step}"${page ? ` at ${page.url()}` : ''}: ${err.message.split('\n')[0]}`);
} finally {
  await context?.close().catch(() => {});
  try { rmSync(userDataDir, { recursive: true, force: true }); } catch { /* best effort */ }
}
process.exit(code);
