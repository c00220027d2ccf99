// Sign-in with an identity provider in Chromium, from the portal's button to a signed-in portal:
// a real OpenID provider (oidc_provider.mjs: the npm package oidc-provider over HTTPS with a
// certificate made here), a real portico-server whose configuration file names it twice (the cfx
// preset with its issuer overridden, and a generic provider), a desk made with portico-admin.
// Run by CTest (e2e.oidc) with PORTICO_SERVER and PORTICO_ADMIN set.
import assert from 'node:assert/strict';
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, test} from 'node:test';
import {chromium} from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const serverPath = process.env.PORTICO_SERVER;
const adminPath = process.env.PORTICO_ADMIN;
const artifacts = process.env.PORTICO_E2E_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-art-'));
const chromiumPath = process.env.PORTICO_CHROMIUM || '/usr/bin/chromium';
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let dir, provider, issuer, server, base, browser;

// Waits for `pattern` on the child's standard output; its first group.
function said(child, pattern, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`${what} exited (${code}): ${out}`)));
  });
}

async function stop(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

before(async () => {
  assert.ok(serverPath && adminPath, 'PORTICO_SERVER and PORTICO_ADMIN must be set');
  fs.mkdirSync(artifacts, {recursive: true});
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-oidc-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {stdio: 'ignore'});
  provider = spawn(process.execPath, [path.join(here, 'oidc_provider.mjs'), cert, key],
    {stdio: ['ignore', 'pipe', 'inherit']});
  issuer = await said(provider, /listening on (https:\/\/127\.0\.0\.1:\d+)/, 'oidc-provider');

  const data = path.join(dir, 'data');
  const admin = (...args) => execFileSync(adminPath, ['--data', data, ...args], {encoding: 'utf8'});
  admin('project', 'create', 'acme', '--name', 'Acme Support', '--sign-in', 'magic_link,cfx,acme-sso',
    '--primary-color', '#7b2cbf', '--languages', 'en,de,fr', '--customer-priority', 'on');
  fs.writeFileSync(path.join(dir, 'cfx.secret'), 'cfx-client-secret-0123456789\n');
  fs.writeFileSync(path.join(dir, 'portico.toml'), [
    '[oidc.cfx]', `issuer = "${issuer}"`, 'client-id = "portico-cfx"',
    `client-secret-file = "${path.join(dir, 'cfx.secret')}"`, `ca-file = "${cert}"`,
    '[oidc.acme-sso]', `issuer = "${issuer}"`, 'client-id = "portico-acme"',
    'client-secret = "acme-client-secret-0123456789"', 'display-name = "Acme SSO"',
    'scopes = "openid email profile"', `ca-file = "${cert}"`, ''].join('\n'));
  server = spawn(serverPath, ['--data', data, '--listen', '127.0.0.1:0', '--config', path.join(dir, 'portico.toml'),
    '--sign-in-rate', '600'], {stdio: ['ignore', 'pipe', 'inherit']});
  base = await said(server, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 'portico-server');

  // The provider's clients, now that the callback URLs are known (Node trusts the test's
  // certificate only for this request).
  const clients = [
    {client_id: 'portico-cfx', client_secret: 'cfx-client-secret-0123456789',
      redirect_uris: [`${base}/api/v1/auth/oauth/cfx/callback`]},
    {client_id: 'portico-acme', client_secret: 'acme-client-secret-0123456789',
      redirect_uris: [`${base}/api/v1/auth/oauth/acme-sso/callback`]}];
  const https = await import('node:https');
  await new Promise((resolve, reject) => {
    const req = https.request(`${issuer}/test/clients`, {method: 'POST', ca: fs.readFileSync(cert)}, (res) => {
      res.resume();
      res.statusCode === 204 ? resolve() : reject(new Error(`clients: ${res.statusCode}`));
    });
    req.on('error', reject);
    req.end(JSON.stringify(clients));
  });
  browser = await chromium.launch({executablePath: chromiumPath, args: chromiumArgs, headless: true});
});

after(async () => {
  if (browser) await browser.close();
  await stop(server);
  await stop(provider);
  if (dir) fs.rmSync(dir, {recursive: true, force: true});
});

// A browser of its own; the provider's certificate is the test's own, so Chromium is told to
// take it (the server checks it properly, through ca-file).
async function newPage() {
  const context = await browser.newContext({ignoreHTTPSErrors: true, viewport: {width: 1280, height: 800}});
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/.test(m.text())) page.errors.push(m.text()); });
  return page;
}

// At the provider's sign-in form: type who signs in.
async function atProvider(page, {sub, email = '', verified = false, name = ''}) {
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Subject').fill(sub);
  if (email) await page.getByLabel('E-mail', {exact: true}).fill(email);
  if (verified) await page.getByLabel('E-mail verified').check();
  if (name) await page.getByLabel('Name').fill(name);
  await page.getByRole('button', {name: 'Sign in'}).click();
}

test('a customer signs in with the Cfx.re button and lands signed in on the portal', async () => {
  const page = await newPage();
  await page.goto(`${base}/p/acme/`);
  const buttons = page.getByRole('region', {name: 'Sign in with your account'});
  await buttons.getByRole('link', {name: 'Continue with Cfx.re'}).waitFor();
  assert.equal(await buttons.getByRole('link', {name: 'Continue with Acme SSO'}).count(), 1);
  // The buttons wear the project's theme.
  const color = await buttons.getByRole('link', {name: 'Continue with Cfx.re'})
    .evaluate((a) => getComputedStyle(a).backgroundColor);
  assert.equal(color, 'rgb(123, 44, 191)');
  await page.screenshot({path: path.join(artifacts, 'oidc-sign-in.png')});
  await buttons.getByRole('link', {name: 'Continue with Cfx.re'}).click();
  await atProvider(page, {sub: 'fivem-ann', email: 'ann@example.com', verified: true, name: 'Ann Lee'});
  await page.waitForURL(`${base}/p/acme/`);
  await page.getByRole('link', {name: 'Your profile (Ann Lee)'}).waitFor();
  // Signed in for real: a ticket can be opened (the cookie session's CSRF token came from /me).
  await page.getByRole('navigation', {name: 'Main'}).getByRole('link', {name: 'New ticket'}).click();
  await page.getByLabel('Subject').fill('Stuck in the loading screen');
  await page.getByLabel('What happened?').fill('Since the update, the server never finishes loading.');
  await page.getByLabel('Priority').selectOption('high');  // the project lets customers choose
  await page.getByRole('button', {name: 'Open the ticket'}).click();
  await page.getByRole('heading', {name: 'Stuck in the loading screen'}).waitFor();
  const opened = await page.evaluate(async () =>
    (await (await fetch('/api/v1/projects/acme/tickets')).json()).items[0].priority);
  assert.equal(opened, 'high');

  // The profile shows the identity; another one is added through the provider and removed.
  await page.getByRole('link', {name: 'Your profile (Ann Lee)'}).click();
  const ways = page.getByRole('region', {name: 'Ways to sign in'});
  await ways.getByRole('button', {name: 'Remove Cfx.re'}).waitFor();
  await ways.getByRole('button', {name: 'Add Acme SSO'}).click();
  await atProvider(page, {sub: 'sso-ann', email: 'ann@example.com', verified: true, name: 'Ann'});
  await page.waitForURL(`${base}/p/acme/profile`);
  await ways.getByRole('button', {name: 'Remove Acme SSO'}).waitFor();
  await page.screenshot({path: path.join(artifacts, 'oidc-profile.png')});
  await ways.getByRole('button', {name: 'Remove Acme SSO'}).click();
  await ways.getByText('Acme SSO no longer signs you in.').waitFor();
  // The language choice is kept.
  await page.getByLabel('Language of the portal and your e-mails').selectOption('fr');
  await page.getByRole('region', {name: 'Language'}).getByText('Saved.').waitFor();
  await page.reload();
  assert.equal(await page.getByLabel('Language of the portal and your e-mails').inputValue(), 'fr');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a provider sign-in from an invitation comes back to it and joins the ticket', async () => {
  // The ticket's creator signs in and makes an invite link.
  const owner = await newPage();
  await owner.goto(`${base}/p/acme/sign-in`);
  await owner.getByRole('link', {name: 'Continue with Acme SSO'}).click();
  await atProvider(owner, {sub: 'sso-owner', email: 'owner@example.com', verified: true, name: 'Olive Owner'});
  await owner.waitForURL(`${base}/p/acme/`);
  const invite = await owner.evaluate(async () => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf};
    const t = await (await fetch('/api/v1/projects/acme/tickets', {method: 'POST', headers,
      body: JSON.stringify({subject: 'Whitelist for my friend', message: 'Please add them.'})})).json();
    return (await (await fetch(`/api/v1/projects/acme/tickets/${t.number}/invites`, {method: 'POST', headers})).json()).url;
  });
  assert.match(invite, /\/invite\/[A-Za-z0-9_-]+$/);

  // The friend opens it, signs in with Cfx.re right there, and joins.
  const friend = await newPage();
  await friend.goto(invite);
  await friend.getByRole('heading', {name: 'Join a ticket at Acme Support'}).waitFor();
  await friend.getByRole('link', {name: 'Continue with Cfx.re'}).click();
  await atProvider(friend, {sub: 'fivem-friend', name: 'Frank'});
  await friend.waitForURL(invite);
  await friend.getByRole('button', {name: 'Join the ticket'}).click();
  await friend.getByRole('heading', {name: 'Whitelist for my friend'}).waitFor();
  assert.deepEqual(owner.errors, []);
  assert.deepEqual(friend.errors, []);
  await owner.context().close();
  await friend.context().close();
});

test('a failed provider sign-in says why on the sign-in page', async () => {
  const page = await newPage();
  // A callback whose state this browser never started (a link from someone else).
  await page.goto(`${base}/api/v1/auth/oauth/cfx/callback?code=x&state=acme.not-this-browsers`);
  await page.waitForURL(`${base}/p/acme/?sign_in_error=invalid_state`);
  await page.getByText('That sign-in took too long or was started in another window.').waitFor();
  await page.getByRole('link', {name: 'Continue with Cfx.re'}).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
