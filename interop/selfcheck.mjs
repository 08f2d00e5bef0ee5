#!/usr/bin/env node
// Self-check of interop/op.mjs with an independent, certified RP library
// (panva's `openid-client` 6.x): start op.mjs exactly as the Rust tests do,
// then run complete browser-less code flows against it:
//   response_mode query and form_post, RS256 and ES256 ID tokens,
//   PKCE S256, RFC 9207 `iss`, userinfo, refresh, revocation,
//   RP-initiated logout (auto-submitted confirmation), the back-channel logout
//   token it sends, and exit on stdin close.
// Run with `npm test` in interop/.

import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';

const OP_SCRIPT = fileURLToPath(new URL('./op.mjs', import.meta.url));
const REDIRECT_URI = 'http://127.0.0.1:9/callback'; // never fetched: openid-client is the RP
const POST_LOGOUT_URI = 'http://localhost:9/signed-out';

// Each client registers a back-channel logout URI on `receiver` (a loopback
// server of ours that records what the OP POSTs there).
const clientsFor = (receiver) => [
  {
    client_id: 'rs256-client',
    client_secret: 'rs256-secret-rs256-secret-rs256-secret',
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [POST_LOGOUT_URI],
    backchannel_logout_uri: `${receiver.url}/backchannel-logout/rs256-client`,
    backchannel_logout_session_required: true,
  },
  {
    client_id: 'es256-client',
    client_secret: 'es256-secret-es256-secret-es256-secret',
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [POST_LOGOUT_URI],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_post',
    backchannel_logout_uri: `${receiver.url}/backchannel-logout/es256-client`,
    backchannel_logout_session_required: true,
  },
];

// ---- the back-channel logout receiver: records every POST, answers 200 ----

function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({
        method: req.method, path: req.url, contentType: req.headers['content-type'], body,
      });
      res.statusCode = 200;
      res.setHeader('cache-control', 'no-store');
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      received,
      close: () => server.close(),
    }));
  });
}

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

/** Verifies a compact JWS (RS256 or ES256) with the key of its kid in `jwks`; returns its payload. */
function verifyJws(jws, jwks) {
  const [h, p, sig] = jws.split('.');
  const header = b64json(h);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `logout token kid ${header.kid} is in the JWKS`);
  assert.equal(header.alg, jwk.alg, 'logout token alg matches its key');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
    Buffer.from(sig, 'base64url'),
  );
  assert.ok(['RS256', 'ES256'].includes(header.alg) && ok, `logout token signature (${header.alg})`);
  return { header, payload: b64json(p) };
}

// ---- a tiny browser: manual redirects, per-host cookie jar, auto-submit forms ----

class CookieJar {
  #byHost = new Map(); // hostname -> Map(name -> { value, path, expires })

  store(url, response) {
    const { hostname } = new URL(url);
    const jar = this.#byHost.get(hostname) ?? new Map();
    this.#byHost.set(hostname, jar);
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
      if (expires <= Date.now()) jar.delete(name);
      else jar.set(name, { value, path, expires });
    }
  }

  header(url) {
    const { hostname, pathname } = new URL(url);
    const jar = this.#byHost.get(hostname);
    if (!jar) return undefined;
    const now = Date.now();
    const pairs = [];
    for (const [name, c] of jar) {
      if (c.expires <= now) continue;
      const p = c.path.endsWith('/') ? c.path : `${c.path}/`;
      if (pathname === c.path || pathname.startsWith(p)) pairs.push(`${name}=${c.value}`);
    }
    return pairs.length ? pairs.join('; ') : undefined;
  }
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

/** The first POST form of an HTML page: its action and hidden fields, or null. */
function parseForm(html, baseUrl) {
  const form = html.match(/<form\b[^>]*>/i);
  if (!form) return null;
  const fa = attrs(form[0]);
  if ((fa.method ?? 'get').toLowerCase() !== 'post') return null;
  const body = new URLSearchParams();
  const end = html.indexOf('</form>', form.index);
  const inner = html.slice(form.index, end === -1 ? undefined : end);
  for (const input of inner.matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(input[0]);
    if (a.name !== undefined && (a.type ?? 'text').toLowerCase() === 'hidden') body.append(a.name, a.value ?? '');
  }
  return { action: new URL(fa.action ?? baseUrl, baseUrl).href, body };
}

/**
 * Walk from `url` like a browser would, until the next request would go to a URL
 * starting with `stopPrefix`. Returns that request (URL for GET, Request for POST).
 */
async function walk(jar, url, stopPrefix, { maxSteps = 20 } = {}) {
  let method = 'GET';
  let body;
  for (let step = 0; step < maxSteps; step += 1) {
    if (url.startsWith(stopPrefix)) {
      if (method === 'GET') return new URL(url);
      return new Request(url, {
        method, body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    }
    const headers = {};
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method, body, headers, redirect: 'manual' });
    jar.store(url, res);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      assert.ok(location, `${res.status} without Location from ${url}`);
      url = new URL(location, url).href;
      if (res.status !== 307 && res.status !== 308) {
        method = 'GET';
        body = undefined;
      }
      continue;
    }
    const text = await res.text();
    assert.equal(res.status, 200, `unexpected ${res.status} from ${method} ${url}: ${text.slice(0, 500)}`);
    const form = parseForm(text, url);
    assert.ok(form, `page at ${url} is neither a redirect nor an auto-submit form: ${text.slice(0, 300)}`);
    url = form.action;
    method = 'POST';
    body = form.body.toString();
  }
  throw new Error(`more than ${maxSteps} steps from ${url}`);
}

// ---- the OP under test, started as the Rust harness starts it ----

function startOp(clients) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OP_SCRIPT, '--port', '0', '--clients', JSON.stringify(clients)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`op.mjs not ready in 15 s; stderr:\n${stderr}`)), 15000);
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        const line = stdout.slice(0, nl);
        const m = /^READY (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
        if (!m) reject(new Error(`unexpected first stdout line: ${JSON.stringify(line)}`));
        else resolve({ child, issuer: m[1], stdout: () => stdout, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`op.mjs exited early (${code}); stderr:\n${stderr}`));
    });
  });
}

async function codeFlow(issuer, client, responseMode, receiver) {
  const label = `${client.client_id} response_mode=${responseMode}`;
  const metadata = {
    client_secret: client.client_secret,
    id_token_signed_response_alg: client.id_token_signed_response_alg ?? 'RS256',
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
  };
  const config = await oidc.discovery(new URL(issuer), client.client_id, metadata, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  const server = config.serverMetadata();
  assert.equal(server.issuer, issuer, 'discovery issuer');
  assert.equal(server.authorization_response_iss_parameter_supported, true, 'RFC 9207 advertised');
  assert.ok(server.code_challenge_methods_supported.includes('S256'), 'PKCE S256 advertised');
  assert.ok(server.response_modes_supported.includes('form_post'), 'form_post advertised');
  assert.ok(server.revocation_endpoint, 'revocation endpoint');
  assert.ok(server.end_session_endpoint, 'end_session endpoint');

  // the JWKS has an RS256 and an ES256 key
  const jwks = await (await fetch(server.jwks_uri)).json();
  const algs = jwks.keys.map((k) => k.alg).sort();
  assert.deepEqual(algs, ['ES256', 'RS256'], 'JWKS algorithms');
  assert.ok(jwks.keys.every((k) => !('d' in k)), 'JWKS exposes no private key material');

  const jar = new CookieJar();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    response_mode: responseMode,
  });

  const callback = await walk(jar, authUrl.href, REDIRECT_URI);
  if (responseMode === 'query') {
    assert.ok(callback instanceof URL, `${label}: expected a GET callback`);
    assert.equal(callback.searchParams.get('iss'), issuer, `${label}: RFC 9207 iss in query`);
  } else {
    assert.ok(callback instanceof Request, `${label}: expected a POST callback`);
    const fields = new URLSearchParams(await callback.clone().text());
    assert.equal(fields.get('iss'), issuer, `${label}: RFC 9207 iss in form_post`);
    assert.equal(fields.get('state'), state, `${label}: state in form_post`);
  }

  // PKCE is enforced: a wrong verifier is refused
  await assert.rejects(
    oidc.authorizationCodeGrant(config, callback instanceof Request ? callback.clone() : callback, {
      pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: state, expectedNonce: nonce,
    }),
    (err) => /invalid_grant/.test(`${err.error ?? ''} ${err.message}`),
    `${label}: wrong PKCE verifier must be refused`,
  );
  // the failed attempt consumed nothing usable: codes are single use, so run a fresh flow
  const callback2 = await walk(jar, oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    response_mode: responseMode,
  }).href, REDIRECT_URI);

  const tokens = await oidc.authorizationCodeGrant(config, callback2, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
  assert.equal(header.alg, metadata.id_token_signed_response_alg, `${label}: ID token alg`);
  assert.ok(jwks.keys.some((k) => k.kid === header.kid), `${label}: ID token kid is in the JWKS`);
  const claims = tokens.claims();
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, client.client_id);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.name, 'Alice Example', `${label}: name in ID token`);
  assert.equal(claims.email, 'alice@example.com');
  assert.equal(claims.email_verified, true);
  assert.ok(tokens.refresh_token, `${label}: refresh token issued without offline_access`);

  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, 'alice');
  assert.deepEqual(
    { sub: userinfo.sub, name: userinfo.name, email: userinfo.email, email_verified: userinfo.email_verified },
    { sub: 'alice', name: 'Alice Example', email: 'alice@example.com', email_verified: true },
    `${label}: userinfo`,
  );

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token, `${label}: refresh gives an access token`);
  assert.equal(refreshed.claims()?.sub, 'alice', `${label}: refreshed ID token sub`);
  const rt = refreshed.refresh_token ?? tokens.refresh_token;

  // revocation: a revoked access token no longer reaches userinfo
  await oidc.tokenRevocation(config, refreshed.access_token);
  await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, 'alice'), `${label}: revoked access token`);

  assert.equal(typeof claims.sid, 'string', `${label}: sid in the ID token (backchannel_logout_session_required)`);

  // RP-initiated logout: the confirmation page auto-submits; we end at the post-logout URI
  const alreadyReceived = receiver.received.length;
  const logoutState = oidc.randomState();
  const endSession = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: POST_LOGOUT_URI,
    state: logoutState,
  });
  const back = await walk(jar, endSession.href, POST_LOGOUT_URI);
  assert.ok(back instanceof URL, `${label}: logout returns with a GET`);
  assert.equal(back.searchParams.get('state'), logoutState, `${label}: logout state`);

  // oidc-provider POSTed a logout token to the client's backchannel_logout_uri
  // (before it redirected back): exactly one, naming this session (BCL 1.0 §2.4, §2.6)
  const posts = receiver.received.slice(alreadyReceived);
  assert.equal(posts.length, 1, `${label}: one back-channel logout POST, got ${JSON.stringify(posts.map((r) => r.path))}`);
  const [post] = posts;
  assert.equal(post.method, 'POST');
  assert.equal(post.path, `/backchannel-logout/${client.client_id}`, `${label}: back-channel logout URI`);
  assert.match(post.contentType, /^application\/x-www-form-urlencoded/, `${label}: back-channel content type`);
  const form = new URLSearchParams(post.body);
  assert.deepEqual([...form.keys()], ['logout_token'], `${label}: the body is one logout_token`);
  const logout = verifyJws(form.get('logout_token'), jwks);
  assert.equal(logout.header.alg, metadata.id_token_signed_response_alg, `${label}: logout token alg`);
  assert.equal(logout.header.typ, 'logout+jwt', `${label}: logout token typ`);
  assert.equal(logout.payload.iss, issuer, `${label}: logout token iss`);
  assert.equal(logout.payload.aud, client.client_id, `${label}: logout token aud`);
  assert.equal(logout.payload.sub, 'alice', `${label}: logout token sub`);
  assert.equal(logout.payload.sid, claims.sid, `${label}: logout token sid is the ID token's`);
  assert.deepEqual(logout.payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} }, `${label}: events`);
  assert.equal(typeof logout.payload.jti, 'string', `${label}: logout token jti`);
  assert.equal(typeof logout.payload.iat, 'number', `${label}: logout token iat`);
  assert.ok(logout.payload.exp > logout.payload.iat, `${label}: logout token exp after iat`);
  assert.ok(!('nonce' in logout.payload), `${label}: logout token has no nonce`);

  // the refresh token expired with the OP session
  await assert.rejects(oidc.refreshTokenGrant(config, rt), `${label}: refresh after logout must fail`);

  // a new authorization now needs a new sign-in (which the OP auto-approves again)
  const again = await walk(jar, authUrl.href, REDIRECT_URI);
  assert.ok(again, `${label}: sign-in after logout`);

  console.log(`ok - ${label}: ${header.alg} ID token, iss checked, userinfo, refresh, revocation, logout, back-channel logout token`);
}

async function main() {
  const receiver = await startReceiver();
  const clients = clientsFor(receiver);
  const op = await startOp(clients);
  let passed = 0;
  let failed = 0;
  try {
    for (const client of clients) {
      for (const mode of ['query', 'form_post']) {
        try {
          await codeFlow(op.issuer, client, mode, receiver);
          passed += 1;
        } catch (err) {
          failed += 1;
          console.log(`not ok - ${client.client_id} response_mode=${mode}: ${err.stack || err}`);
        }
      }
    }
    // stdout carried exactly the READY line
    assert.equal(op.stdout(), `READY ${op.issuer}\n`, 'op.mjs wrote something besides READY to stdout');
    passed += 1;
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${err.stack || err}`);
  } finally {
    // contract: closing stdin stops the OP
    const exited = new Promise((resolve) => op.child.once('exit', resolve));
    op.child.stdin.end();
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    if (code === 'timeout') {
      op.child.kill('SIGKILL');
      failed += 1;
      console.log('not ok - op.mjs did not exit within 5 s of stdin closing');
    } else {
      passed += 1;
      console.log('ok - op.mjs exits when stdin closes');
    }
    receiver.close();
    if (failed) console.error(op.stderr());
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

await main();
