#!/usr/bin/env node
// Interop OpenID Provider: panva's `oidc-provider` (an OpenID-certified OP that
// we did not write), configured for unattended tests of Portcullis.
//
//   node interop/op.mjs --port <P> --clients '<JSON array of client metadata>'
//
// Contract (relied on by the Rust integration tests; keep it stable):
// - issuer `http://127.0.0.1:<port>` (no trailing slash); `--port 0` picks a free port;
// - exactly one line `READY <issuer>` on stdout once listening, everything else on stderr;
// - exits when stdin closes (unless `--keep-alive`) or on SIGTERM/SIGINT;
// - a JWKS with an RS256 and an ES256 key generated at start;
// - no human interaction: every interaction signs in `alice` and grants what was asked,
//   and the logout confirmation is pre-answered and auto-submitted;
// - back-channel logout reaches RPs on loopback (see `fetch` below), and each delivery
//   is logged on stderr as `op.mjs: backchannel.success|error: <client_id>…`;
// - introspection (RFC 7662) is on, and `resource=<URL>` (RFC 8707) gets a JWT access
//   token (typ at+jwt, RS256) with that audience and scopes `api:read api:write`;
// - oidc-provider 9 has no Front-Channel Logout: a client with frontchannel_logout_uri
//   is refused (exit 2).
// See interop/README.md for what a client sees at each step.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

// stdout carries exactly one line (READY ...). Anything that logs with
// console.log/info (ours or a dependency's) goes to stderr instead.
console.log = console.error;
console.info = console.error;

const USAGE = "usage: node op.mjs --port <P> --clients '<JSON array of client metadata>' [--keep-alive] [--conform-id-token-claims] [--require-par]";

function fail(message) {
  process.stderr.write(`op.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      clients: { type: 'string', default: '[]' },
      'keep-alive': { type: 'boolean', default: false },
      'conform-id-token-claims': { type: 'boolean', default: false },
      // RFC 9126: advertise and enforce require_pushed_authorization_requests.
      'require-par': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const { version: OIDC_PROVIDER_VERSION } = createRequire(import.meta.url)('oidc-provider/package.json');

const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --port ${JSON.stringify(args.port)}`);

let clients;
try {
  clients = JSON.parse(args.clients);
} catch (err) {
  fail(`--clients is not valid JSON: ${err.message}`);
}
if (!Array.isArray(clients)) fail('--clients must be a JSON array');
clients = clients.map((c, i) => {
  if (typeof c !== 'object' || c === null || typeof c.client_id !== 'string') {
    fail(`--clients[${i}] must be an object with a string client_id`);
  }
  // oidc-provider 9 has no Front-Channel Logout (no such feature, and it would
  // silently drop the metadata): refuse it rather than let a test believe the
  // OP will load the RP's iframe.
  for (const field of ['frontchannel_logout_uri', 'frontchannel_logout_session_required']) {
    if (field in c) fail(`--clients[${i}].${field}: oidc-provider ${OIDC_PROVIDER_VERSION} has no Front-Channel Logout`);
  }
  // Issue refresh tokens for the code grant: oidc-provider only issues one when
  // the client may use the refresh_token grant (and, by default, only with
  // offline_access; see issueRefreshToken below). Default the grant types so a
  // caller that gives only redirect_uris gets refresh tokens too.
  return {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...c,
  };
});

// The single sample account. Claims are filtered by scope by oidc-provider.
const ACCOUNTS = {
  alice: {
    sub: 'alice',
    name: 'Alice Example',
    email: 'alice@example.com',
    email_verified: true,
  },
};

function signingKey(kind, alg) {
  const { privateKey } = kind === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomUUID()}`, alg, use: 'sig' };
}

const { default: Provider, errors } = await import('oidc-provider');

// Listen first so that the issuer can carry the real port (port 0 = any free port).
let provider;
let callback;
const server = http.createServer((req, res) => {
  if (!callback) {
    res.statusCode = 503;
    res.end('starting');
    return;
  }
  const { pathname } = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && /^\/interaction\/[A-Za-z0-9_-]+$/.test(pathname)) {
    autoInteraction(req, res).catch((err) => {
      process.stderr.write(`op.mjs: interaction failed: ${err.stack || err}\n`);
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`interaction failed: ${err.message}\n`);
      }
    });
    return;
  }
  callback(req, res);
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
}).catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

const issuer = `http://127.0.0.1:${server.address().port}`;

function isLoopbackUrl(url) {
  const { hostname } = new URL(url);
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

const htmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

const configuration = {
  clients,
  jwks: { keys: [signingKey('rsa', 'RS256'), signingKey('ec', 'ES256')] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  // Spec default (true): for response_type=code the ID token carries only the
  // protocol claims and `sub`; profile/email claims come from userinfo. We turn
  // it off by default so that the ID token carries them as well (as many hosted
  // OPs do); `--conform-id-token-claims` restores the strict behaviour.
  conformIdTokenClaims: args['conform-id-token-claims'],
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { ...account };
      },
    };
  },
  // A refresh token for every code grant of a client allowed the refresh_token
  // grant (which op.mjs makes the default), with or without offline_access.
  // Without offline_access the refresh token expires with the OP session (so it
  // stops working after RP-initiated logout).
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  pkce: { required: () => true },
  // oidc-provider 9 sends its outgoing requests (the back-channel logout POST
  // among them) through a dispatcher that destroys any connection to a
  // special-use address, loopback included, as an SSRF guard. The RPs under
  // test listen on loopback, so a request to a loopback URL goes out without
  // that dispatcher; every other destination keeps the guard.
  fetch(url, options) {
    if (isLoopbackUrl(url)) {
      const { dispatcher: _ssrfGuard, ...direct } = options;
      return globalThis.fetch(url, direct);
    }
    return globalThis.fetch(url, options);
  },
  features: {
    devInteractions: { enabled: false },
    // Pushed Authorization Requests (on by default in oidc-provider 9);
    // `--require-par` makes them mandatory for every client.
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: args['require-par'],
    },
    revocation: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
    claimsParameter: { enabled: true },
    // Bearer interop (resource-server mode): RFC 7662 introspection, for any
    // authenticated client; and RFC 8707 resource indicators: an authorization
    // request with `resource=<API>` yields a JWT access token (`typ` at+jwt,
    // RS256) for that audience with the scopes `api:read api:write` where
    // asked. Without `resource`, access tokens stay opaque (for userinfo).
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: async () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        return {
          scope: 'api:read api:write',
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
    // Back-Channel Logout 1.0: when a session ends at the OP (RP-initiated
    // logout, or the user signing out at the OP), oidc-provider POSTs a logout
    // token to the backchannel_logout_uri of every client of that session
    // (with `sid` when the client registered backchannel_logout_session_required),
    // before it answers the logout confirmation. There is no frontchannelLogout
    // feature in oidc-provider 9.
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The logout confirmation form, pre-answered "yes" and auto-submitted, so a
      // browser-less client can complete it by POSTing the form's fields.
      async logoutSource(ctx, form) {
        const autoForm = form.replace(
          '</form>',
          '<input type="hidden" name="logout" value="yes"/><noscript><button type="submit">Yes, sign me out</button></noscript></form>',
        );
        ctx.type = 'html';
        ctx.body = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Signing out</title>
<script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });</script>
</head>
<body>${autoForm}</body>
</html>`;
      },
      async postLogoutSuccessSource(ctx) {
        const client = ctx.oidc.client ? htmlEscape(ctx.oidc.client.clientId) : 'the application';
        ctx.type = 'html';
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>Signed out</h1><p>You are signed out from ${client}.</p></body></html>`;
      },
    },
  },
  clientBasedCORS: () => true,
  renderError(ctx, out) {
    ctx.type = 'html';
    const rows = Object.entries(out).map(([k, v]) => `<dt>${htmlEscape(k)}</dt><dd>${htmlEscape(v)}</dd>`).join('');
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>OP error</title></head><body><h1>OP error</h1><dl>${rows}</dl></body></html>`;
  },
};

try {
  provider = new Provider(issuer, configuration);
} catch (err) {
  fail(`invalid configuration: ${err.message}`);
}

// Log protocol errors to stderr (never tokens: oidc-provider's error objects
// carry only the error code and description).
for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error', 'revocation.error']) {
  provider.on(event, (_ctx, err) => {
    process.stderr.write(`op.mjs: ${event}: ${err.error || err.name}: ${err.error_description || err.message}\n`);
  });
}

// Back-channel logout outcomes, one line each (the client and the result; never
// the logout token): `backchannel.success` means the RP answered 200 or 204.
provider.on('backchannel.success', (_ctx, client) => {
  process.stderr.write(`op.mjs: backchannel.success: ${client.clientId}\n`);
});
provider.on('backchannel.error', (_ctx, err, client) => {
  process.stderr.write(`op.mjs: backchannel.error: ${client.clientId}: ${err.message}${err.cause ? ` (${err.cause.message || err.cause})` : ''}\n`);
});

// The unattended interaction: sign in alice and grant every requested scope and claim.
async function autoInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const accountId = 'alice';

  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (!grant) throw new errors.InvalidRequest('grant not found');

  if (typeof params.scope === 'string') grant.addOIDCScope(params.scope);
  // Resource indicators (bearer interop): grant the resource scopes asked for.
  const missingResourceScopes = details.prompt?.details?.missingResourceScopes;
  if (missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  if (typeof params.claims === 'string') {
    try {
      const requested = JSON.parse(params.claims);
      for (const target of ['id_token', 'userinfo']) {
        if (requested && typeof requested[target] === 'object' && requested[target] !== null) {
          grant.addOIDCClaims(Object.keys(requested[target]));
        }
      }
    } catch {
      // malformed claims parameter: oidc-provider already rejected it at /auth
    }
  }
  const grantId = await grant.save();

  await provider.interactionFinished(req, res, {
    login: { accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

callback = provider.callback();

let closing = false;
function shutdown(code = 0) {
  if (closing) return;
  closing = true;
  server.close();
  server.closeAllConnections?.();
  // Do not wait on lingering keep-alive sockets.
  setTimeout(() => process.exit(code), 200).unref();
  process.exitCode = code;
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
if (!args['keep-alive']) {
  process.stdin.on('end', () => shutdown(0));
  process.stdin.on('close', () => shutdown(0));
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();
}

process.stderr.write(`op.mjs: oidc-provider listening, ${clients.length} client(s): ${clients.map((c) => c.client_id).join(', ') || '(none)'}\n`);
process.stdout.write(`READY ${issuer}\n`);
