#!/usr/bin/env node
// End-to-end login of the Portcullis demo app in a real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core; no browser download).
//
//   node e2e/demo-login.mjs <demo-app-base-url>
//
// Steps: home says "Signed out" -> click #login -> on the dev OP's sign-in page
// click alice -> back on the app, /profile shows claims with "sub": "alice" ->
// click #logout -> home says "Signed out" -> /profile (as a browser) goes to the
// OP again. Screenshots go to e2e/out/. Exit 0 on success, 1 on failure (with
// the failing step, URL and page text), 2 on bad usage. Overall timeout 60 s.

import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OVERALL_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 15_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const baseArg = process.argv[2];
if (!baseArg || process.argv.length > 3) {
  console.error('usage: node e2e/demo-login.mjs <demo-app-base-url>');
  process.exit(2);
}
let base;
try {
  base = new URL(baseArg);
} catch {
  console.error(`demo-login: not a URL: ${baseArg}`);
  process.exit(2);
}
const appOrigin = base.origin;
const appUrl = (p) => new URL(p, base).href;

if (!existsSync(CHROMIUM)) {
  console.error(`demo-login: FAIL: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  process.exit(1);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('demo-login: FAIL: playwright-core is not installed (run `npm ci` in e2e/)');
  process.exit(1);
}

mkdirSync(OUT_DIR, { recursive: true });
const userDataDir = mkdtempSync(path.join(tmpdir(), 'portcullis-e2e-chromium-'));
let context;
let page;
let step = 'start';

function cleanup() {
  try { rmSync(userDataDir, { recursive: true, force: true }); } catch { /* best effort */ }
}

async function pageText() {
  try {
    return (await page.locator('body').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').slice(0, 600);
  } catch {
    return '(no page text)';
  }
}

async function shot(name) {
  try {
    await page.screenshot({ path: path.join(OUT_DIR, `${name}.png`), fullPage: true, timeout: 5000 });
  } catch (err) {
    console.error(`demo-login: (screenshot ${name} failed: ${err.message.split('\n')[0]})`);
  }
}

class StepError extends Error {}
const fail = (message) => { throw new StepError(message); };

async function run() {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: STEP_TIMEOUT_MS,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = context.pages()[0] ?? await context.newPage();

  step = 'open home page';
  await page.goto(appUrl('/'));
  const status = page.locator('#status');
  await status.waitFor();
  const before = await status.innerText();
  if (!before.includes('Signed out')) fail(`#status should contain "Signed out", got ${JSON.stringify(before)}`);
  await shot('1-home-signed-out');

  step = 'click #login and reach the OP sign-in page';
  await page.locator('a#login').click();
  const alice = page.locator('button[name=user][value=alice]');
  await alice.waitFor();
  const opOrigin = new URL(page.url()).origin;
  await shot('2-op-sign-in');

  step = 'sign in as alice and return to the app';
  await alice.click();
  await page.waitForURL(
    (u) => u.origin === appOrigin && !u.pathname.endsWith('/callback'),
    { waitUntil: 'load' },
  );
  if (new URL(page.url()).pathname !== new URL(appUrl('/profile')).pathname) {
    step = `navigate to /profile (returned to ${page.url()})`;
    await page.goto(appUrl('/profile'));
  }

  step = 'read claims on /profile';
  const claimsEl = page.locator('pre#claims');
  await claimsEl.waitFor();
  const raw = await claimsEl.innerText();
  let claims;
  try {
    claims = JSON.parse(raw);
  } catch {
    fail(`pre#claims is not JSON: ${raw.slice(0, 300)}`);
  }
  if (!raw.includes('"sub"') || claims?.sub !== 'alice') fail(`claims should contain "sub": "alice", got ${raw.slice(0, 300)}`);
  await shot('3-profile-claims');

  step = 'click #logout and return home signed out';
  await page.locator('a#logout').click();
  await page.waitForURL((u) => u.origin === appOrigin, { waitUntil: 'load' });
  await page.locator('#status').waitFor();
  await page.waitForFunction(
    () => document.querySelector('#status')?.textContent?.includes('Signed out'),
    undefined,
    { timeout: STEP_TIMEOUT_MS },
  ).catch(async () => fail(`#status after logout: ${JSON.stringify(await page.locator('#status').innerText())}`));
  await shot('4-home-after-logout');

  step = '/profile after logout redirects to the OP';
  await page.goto(appUrl('/profile'));
  await page.waitForURL((u) => u.origin === opOrigin, { waitUntil: 'load' }).catch(() => fail(
    `expected to be sent to the OP (${opOrigin}), stayed at ${page.url()}`,
  ));
  await shot('5-profile-redirects-to-op');
}

const overall = setTimeout(() => {
  console.error(`demo-login: FAIL: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s at step "${step}"${page ? ` (url ${page.url()})` : ''}`);
  cleanup();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
overall.unref();

let code = 0;
try {
  await run();
  console.log(`demo-login: ok: signed in as alice, saw the claims, signed out (${appOrigin}); screenshots in ${OUT_DIR}`);
} catch (err) {
  code = 1;
  const where = page ? ` at ${page.url()}` : '';
  const msg = (err instanceof StepError ? err.message : err.message.split('\n').slice(0, 4).join(' | '))
    .replace(/\x1b\[[0-9;]*m/g, ''); // drop playwright's terminal colours
  console.error(`demo-login: FAIL at step "${step}"${where}: ${msg}`);
  if (page) {
    console.error(`demo-login: page text: ${await pageText()}`);
    await shot('failure');
  }
} finally {
  clearTimeout(overall);
  await context?.close().catch(() => {});
  cleanup();
}
process.exit(code);
