// A real OpenID provider for the sign-in tests: the npm package oidc-provider (a certified
// implementation of OpenID Connect), over HTTPS on 127.0.0.1 with the test's certificate.
//
//   node oidc_provider.mjs CERT.pem KEY.pem
//
// prints "oidc-provider: listening on https://127.0.0.1:PORT" once it answers. The issuer is that
// URL. Everything else is set by the test over HTTPS (its own paths, beside the provider's):
//   POST /test/clients  [{client_id, client_secret, redirect_uris}]   the clients (a new provider
//                        with the same keys: the clients are set before any sign-in)
//   POST /test/next     {mode}   changes the next ID token the token endpoint hands out, once:
//                        "wrong_nonce", "expired", "wrong_audience", "bad_signature" (signed by a
//                        key nobody published, under the published kid), "unknown_kid" (a key
//                        never published), "rotate" (a new key, published from now on)
// The sign-in page (/interaction/UID) is a form: subject, e-mail, "e-mail verified", name. The
// account it signs in is what was typed; consent is granted with it. There is no single sign-on
// session: every authorization shows the form.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

// The provider's reminder that its in-memory storage is for development is true and known here.
const warn = console.warn.bind(console);
console.warn = (...args) => {
  if (!String(args[0]).includes('in-memory adapter')) warn(...args);
};

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  console.error('usage: node oidc_provider.mjs CERT.pem KEY.pem');
  process.exit(2);
}

const b64url = (data) => Buffer.from(data).toString('base64url');
function newKey(kid) {
  const {privateKey} = crypto.generateKeyPairSync('rsa', {modulusLength: 2048});
  const jwk = {...privateKey.export({format: 'jwk'}), kid, use: 'sig', alg: 'RS256'};
  const {d, p, q, dp, dq, qi, ...pub} = jwk;
  return {privateKey, jwk, pub};
}
const first = newKey('k1');
let rotated = null;  // the key "rotate" published
let nextMode = null;

function sign(payload, key, kid) {
  const head = b64url(JSON.stringify({alg: 'RS256', kid, typ: 'JWT'}));
  const body = b64url(JSON.stringify(payload));
  const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(sig)}`;
}
function tamper(idToken, mode) {
  const payload = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'wrong_nonce': return sign({...payload, nonce: 'not-the-nonce'}, first.privateKey, 'k1');
    case 'expired':
      return sign({...payload, iat: now - 7200, exp: now - 3600}, first.privateKey, 'k1');
    case 'wrong_audience':
      return sign({...payload, aud: 'someone-else'}, first.privateKey, 'k1');
    case 'bad_signature': return sign(payload, newKey('k1').privateKey, 'k1');
    case 'unknown_kid': return sign(payload, newKey('k-never').privateKey, 'k-never');
    case 'rotate':
      rotated = rotated || newKey('k2');
      return sign(payload, rotated.privateKey, 'k2');
    default: return idToken;
  }
}

const accounts = new Map();  // sub -> claims typed on the sign-in page
let clients = [];
let provider = null;
let issuer = "";
let handler = null;  // provider.callback() of the current provider

function makeProvider() {
  const p = new Provider(issuer, {
    clients,
    jwks: {keys: [first.jwk]},
    cookies: {keys: [crypto.randomBytes(32).toString('hex')]},
    scopes: ['openid', 'email', 'profile', 'identify'],
    // "identify" is the scope the cfx preset asks for (Cfx.re's own, with the forum name).
    claims: {openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'],
             identify: ['name']},
    features: {devInteractions: {enabled: false}},
    pkce: {required: () => true},
    interactions: {url: (ctx, interaction) => `/interaction/${interaction.uid}`},
    findAccount: (ctx, sub) => {
      const claims = accounts.get(sub);
      if (!claims) return undefined;
      return {accountId: sub, claims: () => ({sub, ...claims})};
    },
  });
  p.on('server_error', (ctx, err) => console.error('oidc-provider: server_error', err));
  // The test's changes to the next ID token, and the rotated key in the published set.
  p.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body && ctx.body.id_token &&
        nextMode) {
      ctx.body = {...ctx.body, id_token: tamper(ctx.body.id_token, nextMode)};
      nextMode = null;
    }
    if (ctx.method === 'GET' && ctx.path === '/jwks' && rotated && ctx.body && ctx.body.keys) {
      ctx.body = {keys: [...ctx.body.keys, rotated.pub]};
    }
  });
  return p;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));

async function interaction(req, res, uid, login) {
  const details = await provider.interactionDetails(req, res);
  if (!login) {
    res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
    res.end(`<!doctype html><title>Test provider: sign in</title>
<h1>Sign in to the test provider</h1>
<p>for ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Subject <input name="sub" required></label>
<label>E-mail <input name="email"></label>
<label><input type="checkbox" name="email_verified" value="true"> E-mail verified</label>
<label>Name <input name="name"></label>
<button type="submit">Sign in</button>
</form>`);
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const sub = form.get('sub');
  const claims = {};
  if (form.get('email')) claims.email = form.get('email');
  claims.email_verified = form.get('email_verified') === 'true';
  if (form.get('name')) claims.name = form.get('name');
  accounts.set(sub, claims);
  const grant = new provider.Grant({accountId: sub, clientId: details.params.client_id});
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {login: {accountId: sub}, consent: {grantId}},
                                     {mergeWithLastSubmission: false});
}

const server = https.createServer({cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile)},
                                  async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (req.method === 'POST' && url.pathname === '/test/clients') {
      clients = JSON.parse(await readBody(req));
      provider = makeProvider();
      handler = provider.callback();
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/test/next') {
      nextMode = JSON.parse(await readBody(req)).mode;
      res.writeHead(204).end();
      return;
    }
    // No single sign-on: every authorization asks who signs in (the provider's session cookie
    // is not shown to it), so a test chooses the person each time, in any browser.
    if (req.headers.cookie) {
      req.headers.cookie = req.headers.cookie.split(/;\s*/)
          .filter((c) => !c.startsWith('_session')).join('; ');
    }
    const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
    if (m && provider) {
      await interaction(req, res, m[1], Boolean(m[2]));
      return;
    }
    if (!provider) {
      res.writeHead(503).end('no clients yet');
      return;
    }
    handler(req, res);
  } catch (e) {
    console.error('oidc-provider:', e);
    if (!res.headersSent) res.writeHead(500);
    res.end(String(e && e.message));
  }
});
server.listen(0, '127.0.0.1', () => {
  issuer = `https://127.0.0.1:${server.address().port}`;
  provider = makeProvider();
  handler = provider.callback();
  console.log(`oidc-provider: listening on ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
