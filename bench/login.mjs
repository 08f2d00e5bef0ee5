#!/usr/bin/env node
// Browser-less login for the benchmark: prints the value of a `Cookie:` header
// that carries a valid session of the app at <app-base-url>.
//
//   node bench/login.mjs <app-base-url> [user]      (user defaults to alice)
//
// It requests <app>/profile as a browser would (Accept: text/html), follows
// redirects by hand through the app's login and the OP, keeps cookies per host
// (like a browser: ports ignored), submits auto-submit POST forms (form_post
// callbacks, logout confirmations) and, on a sign-in page that lists users as
// <button name="user" value="...">, picks the user. It stops at a 200 from the
// app's /profile, then prints only the cookies that the app itself set (so the
// OP's own cookies on the same host are not counted), after checking that
// /profile with exactly that Cookie header returns 200 JSON with a `sub`.
// Exit 1 with a message on stderr on any failure. No dependencies (Node 20+).

const MAX_STEPS = 25;
const TIMEOUT_MS = 20_000;

const [appArg, userArg] = process.argv.slice(2);
if (!appArg) {
  console.error('usage: node bench/login.mjs <app-base-url> [user]');
  process.exit(2);
}
const user = userArg || 'alice';
const app = new URL(appArg);
const profileUrl = new URL('profile', app.href.endsWith('/') ? app.href : `${app.href}/`).href;

const die = (msg) => {
  console.error(`login.mjs: ${msg}`);
  process.exit(1);
};
setTimeout(() => die(`timed out after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS).unref();

// hostname -> Map(name -> { value, path, expires, setBy })
const jar = new Map();

function storeCookies(url, response) {
  const { hostname, origin } = new URL(url);
  const hostJar = jar.get(hostname) ?? new Map();
  jar.set(hostname, hostJar);
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expires = Infinity;
    for (const attr of attrs) {
      const [k, ...v] = attr.trim().split('=');
      const key = k.toLowerCase();
      const val = v.join('=');
      if (key === 'path' && val.startsWith('/')) path = val;
      if (key === 'max-age') expires = Date.now() + Number(val) * 1000;
      if (key === 'expires' && expires === Infinity) expires = Date.parse(val);
    }
    if (!(expires > Date.now())) hostJar.delete(name);
    else hostJar.set(name, { value, path, expires, setBy: origin });
  }
}

function cookieHeader(url, { onlySetBy } = {}) {
  const { hostname, pathname } = new URL(url);
  const hostJar = jar.get(hostname);
  if (!hostJar) return '';
  const now = Date.now();
  const pairs = [];
  for (const [name, c] of hostJar) {
    if (c.expires <= now) continue;
    if (onlySetBy && c.setBy !== onlySetBy) continue;
    const prefix = c.path.endsWith('/') ? c.path : `${c.path}/`;
    if (pathname === c.path || pathname.startsWith(prefix)) pairs.push(`${name}=${c.value}`);
  }
  return pairs.join('; ');
}

const decodeEntities = (s) => s
  .replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<')
  .replace(/&gt;/g, '>').replace(/&#x2F;/g, '/').replace(/&amp;/g, '&');

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out[m[1].toLowerCase()] = decodeEntities(m[3] ?? m[4]);
  }
  return out;
}

/** A POST form to submit on this page (auto-submit or user picker), or null. */
function formToSubmit(html, pageUrl) {
  for (const form of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const fa = attrs(form[0].slice(0, form[0].indexOf('>') + 1));
    if ((fa.method ?? 'get').toLowerCase() !== 'post') continue;
    const inner = form[1];
    const body = new URLSearchParams();
    for (const input of inner.matchAll(/<input\b[^>]*>/gi)) {
      const a = attrs(input[0]);
      if (a.name !== undefined && (a.type ?? 'text').toLowerCase() === 'hidden') body.append(a.name, a.value ?? '');
    }
    const buttons = [...inner.matchAll(/<button\b[^>]*>/gi)].map((b) => attrs(b[0]));
    const pick = buttons.find((b) => b.name === 'user' && b.value === user);
    if (pick) body.append('user', user);
    else if (buttons.some((b) => b.name === 'user')) continue; // a user picker without our user
    return { action: new URL(fa.action ?? pageUrl, pageUrl).href, body: body.toString() };
  }
  return null;
}

let url = profileUrl;
let method = 'GET';
let body;
let landed = false;
for (let step = 0; step < MAX_STEPS; step += 1) {
  const headers = { accept: 'text/html,application/xhtml+xml' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  let res;
  try {
    res = await fetch(url, { method, body, headers, redirect: 'manual' });
  } catch (err) {
    die(`${method} ${url}: ${err.cause?.code ?? err.message}`);
  }
  storeCookies(url, res);
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    if (!location) die(`${res.status} without Location from ${url}`);
    url = new URL(location, url).href;
    if (res.status !== 307 && res.status !== 308) {
      method = 'GET';
      body = undefined;
    }
    continue;
  }
  const text = await res.text();
  if (res.status === 200 && method === 'GET' && new URL(url).origin === app.origin && new URL(url).pathname === new URL(profileUrl).pathname) {
    landed = true;
    break;
  }
  if (res.status !== 200) die(`${res.status} from ${method} ${url}: ${text.slice(0, 300).replace(/\s+/g, ' ')}`);
  const form = formToSubmit(text, url);
  if (!form) die(`page at ${url} has no redirect and no form to submit: ${text.slice(0, 300).replace(/\s+/g, ' ')}`);
  url = form.action;
  method = 'POST';
  body = form.body;
}
if (!landed) die(`did not reach ${profileUrl} within ${MAX_STEPS} steps (last: ${method} ${url})`);

// Only the app's own cookies: what a benchmark client must send.
const header = cookieHeader(profileUrl, { onlySetBy: app.origin });
if (!header) die(`${app.origin} set no cookie`);
const check = await fetch(profileUrl, { headers: { cookie: header, accept: 'application/json' }, redirect: 'manual' });
const checkText = await check.text();
let claims;
try {
  claims = JSON.parse(checkText);
} catch {
  die(`GET ${profileUrl} with the session cookie: ${check.status}, not JSON: ${checkText.slice(0, 200)}`);
}
if (check.status !== 200 || typeof claims.sub !== 'string') die(`GET ${profileUrl} with the session cookie: ${check.status} ${checkText.slice(0, 200)}`);
console.error(`login.mjs: signed in to ${app.origin} as ${claims.sub}; Cookie header is ${Buffer.byteLength(header)} bytes`);
process.stdout.write(`${header}\n`);
