// The portal pages end to end: a real portico-server (--demo) on 127.0.0.1 with a temporary
// data directory and mail directory, Debian's Chromium driven by playwright-core. Run by CTest
// (tests/CMakeLists.txt: e2e.portal) with PORTICO_SERVER set to the server to start;
// screenshots go to PORTICO_E2E_ARTIFACTS.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {chromium} from 'playwright-core';

const serverPath = process.env.PORTICO_SERVER;
const artifacts = process.env.PORTICO_E2E_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-art-'));
const chromiumPath = process.env.PORTICO_CHROMIUM || '/usr/bin/chromium';
// As root in CI, without a sandbox; no background connections (the network is closed).
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server, base, mailDir, dataDir, browser;

before(async () => {
  assert.ok(serverPath && fs.existsSync(serverPath), `PORTICO_SERVER must name portico-server (got ${serverPath})`);
  assert.ok(fs.existsSync(chromiumPath), `Chromium is not at ${chromiumPath} (scripts/install-deps.sh installs it)`);
  fs.mkdirSync(artifacts, {recursive: true});
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-data-'));
  mailDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-mail-'));
  server = spawn(serverPath, ['--data', dataDir, '--listen', '127.0.0.1:0', '--demo', '--mail-dir', mailDir],
    {stdio: ['ignore', 'pipe', 'inherit']});
  base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 30_000);
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m && out.includes('demo project')) { clearTimeout(timer); resolve(m[1]); }
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code}): ${out}`)));
  });
  browser = await chromium.launch({executablePath: chromiumPath, args: chromiumArgs, headless: true});
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  for (const dir of [dataDir, mailDir]) if (dir) fs.rmSync(dir, {recursive: true, force: true});
});

// ---- Helpers ----

// RFC 2045 quoted-printable, as the mail directory writes bodies.
function unquote(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

// The newest link with a token in an e-mail to `address` (waits for it to be written).
async function mailedLink(address, since) {
  for (let i = 0; i < 100; ++i) {
    const files = fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml'))
      .map((f) => path.join(mailDir, f)).filter((f) => fs.statSync(f).mtimeMs >= since)
      .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    for (const f of files) {
      const text = unquote(fs.readFileSync(f, 'utf8'));
      if (!new RegExp(`^To:.*${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'mi').test(text)) continue;
      const link = text.match(/https?:\/\/\S+token=[A-Za-z0-9_-]+/);
      if (link) return link[0];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no e-mail with a link reached ${address}`);
}

// A page that fails the test on any dialog (an injected script would raise one) or page error.
async function newPage(viewport = {width: 1280, height: 800}) {
  const context = await browser.newContext({viewport});
  const page = await context.newPage();
  page.errors = [];
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') return d.accept();  // the portal's own "are you sure?"
    page.errors.push(`unexpected ${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  page.on('pageerror', (e) => page.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy/.test(m.text())) page.errors.push(m.text()); });
  return page;
}

async function signInByMagicLink(page, email) {
  const since = Date.now() - 1000;
  await page.goto(`${base}/p/demo/`);
  const magic = page.getByRole('region', {name: 'E-mail me a sign-in link'});
  await magic.getByLabel('E-mail address').fill(email);
  await magic.getByRole('button', {name: 'Send the link'}).click();
  await page.getByText('Check your inbox').waitFor();
  await page.goto(await mailedLink(email, since));
  await page.getByRole('heading', {level: 1, name: /^Hello, / }).waitFor();
}

async function staffSignIn(page) {
  await page.goto(`${base}/staff/`);
  await page.getByLabel('E-mail address').fill('agent@demo.test');
  await page.getByLabel('Password').fill('dana keeps the desk');
  await page.getByLabel('Project').fill('demo');
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByRole('heading', {level: 1, name: 'Queue'}).waitFor();
}

async function shot(page, name) {
  await page.screenshot({path: path.join(artifacts, `${name}.png`), fullPage: true});
}

async function noHorizontalOverflow(page) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `the page is ${scroll}px wide in a ${client}px viewport`);
}

const XSS = '<img src=x onerror=alert(1)>';

// ---- The tests ----

test('the pages and their files are served with types, caching and the policy', async () => {
  const page = await fetch(`${base}/p/demo/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
  assert.doesNotMatch(page.headers.get('content-security-policy'), /unsafe-inline/);
  const js = await fetch(`${base}/assets/portal.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  const etag = js.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${base}/assets/portal.js`, {headers: {'If-None-Match': etag}});
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${base}/assets/nope.js`)).status, 404);
  assert.match((await fetch(`${base}/assets/portal.css`)).headers.get('content-type'), /^text\/css/);
});

test('a customer signs in by magic link, opens a ticket, staff reply, and she reacts, favorites, asks to close and rates', async () => {
  const carol = await newPage();
  await signInByMagicLink(carol, 'carol@example.com');
  await shot(carol, 'home-1280');

  // A new ticket whose text is markup: shown as text, runs nothing.
  await carol.getByRole('link', {name: 'New ticket'}).first().click();
  await carol.getByLabel(/^Subject/).fill('The installer stops');
  await carol.getByLabel(/^What happened\?/).fill(`It stops at 80%. ${XSS}`);
  await carol.getByRole('button', {name: 'Open the ticket'}).click();
  const heading = carol.getByRole('heading', {level: 1, name: /^#\d+ The installer stops$/});
  await heading.waitFor();
  const number = (await heading.textContent()).match(/^#(\d+)/)[1];
  await carol.getByText(`It stops at 80%. ${XSS}`, {exact: true}).waitFor();
  assert.equal(await carol.locator('.thread img').count(), 0, 'the markup became an element');

  // Staff answer in another browser context.
  const dana = await newPage();
  await staffSignIn(dana);
  await shot(dana, 'staff-queue-1280');
  await dana.getByRole('link', {name: `#${number}`, exact: true}).click();
  await dana.getByRole('heading', {level: 1, name: new RegExp(`^#${number} `)}).waitFor();
  await dana.getByText(`It stops at 80%. ${XSS}`, {exact: true}).waitFor();
  await dana.getByRole('textbox', {name: 'Answer'}).fill('Thanks — a fix is on its way.');
  await dana.getByRole('button', {name: 'Send'}).click();
  await dana.getByText('Thanks — a fix is on its way.').waitFor();
  await shot(dana, 'staff-ticket-1280');

  // She sees the reply and a notification.
  await carol.reload();
  await carol.getByText('Thanks — a fix is on its way.').waitFor();
  await carol.getByRole('link', {name: /Notifications, 1 unread/}).waitFor();

  // Reacts to it.
  const reply = carol.locator('.message.staff');
  await reply.getByRole('button', {name: /^👍 0/}).click();
  await reply.getByRole('button', {name: '👍 1, yours'}).waitFor();
  assert.equal(await reply.getByRole('button', {name: '👍 1, yours'}).getAttribute('aria-pressed'), 'true');

  // Favorites it: it is on the favorites page.
  await carol.getByRole('button', {name: '☆ Mark as favorite'}).click();
  await carol.getByRole('button', {name: '★ Favorite'}).waitFor();
  await carol.getByRole('link', {name: 'Favorites'}).first().click();
  await carol.getByRole('link', {name: new RegExp(`#${number} The installer stops`)}).waitFor();
  await carol.goBack();

  // The notification list shows the reply, and mark all read empties the count.
  await carol.getByRole('link', {name: /Notifications/}).click();
  await carol.getByText(/Support replied · #\d+/).waitFor();
  await carol.getByRole('button', {name: 'Mark all read'}).click();
  await carol.getByRole('link', {name: 'Notifications', exact: true}).waitFor();

  // Asks to close, and rates the help.
  await carol.goto(`${base}/p/demo/tickets/${number}`);
  await carol.getByRole('button', {name: 'Request closure'}).click();
  await carol.getByText('Closing requested').first().waitFor();
  const survey = carol.getByRole('region', {name: 'Rate the help you got'});
  await survey.getByLabel('5').check();
  await survey.getByLabel(/Anything to add/).fill('Quick and kind.');
  await survey.getByRole('button', {name: 'Send the rating'}).click();
  await survey.waitFor({state: 'detached'});
  await shot(carol, 'ticket-1280');
  assert.deepEqual(carol.errors, []);
  assert.deepEqual(dana.errors, []);
});

test('the main pages fit a 390 px wide phone and are kept as screenshots', async () => {
  const phone = await newPage({width: 390, height: 844});
  await signInByMagicLink(phone, 'dave@example.com');
  await noHorizontalOverflow(phone);
  await shot(phone, 'home-390');
  await phone.getByRole('link', {name: 'New ticket'}).first().click();
  await phone.getByLabel(/^Subject/).fill('A subject that is rather long, to see how it wraps on a small screen');
  await phone.getByLabel(/^What happened\?/).fill('x'.repeat(300));
  await noHorizontalOverflow(phone);
  await shot(phone, 'new-ticket-390');
  await phone.getByRole('button', {name: 'Open the ticket'}).click();
  await phone.getByRole('heading', {level: 1, name: /^#\d+ /}).waitFor();
  await noHorizontalOverflow(phone);
  await shot(phone, 'ticket-390');
  await phone.goto(`${base}/p/demo/tickets`);
  await phone.locator('.tickets li').first().waitFor();
  await noHorizontalOverflow(phone);
  await shot(phone, 'tickets-390');
  const staff = await newPage({width: 390, height: 844});
  await staffSignIn(staff);
  await noHorizontalOverflow(staff);
  await shot(staff, 'staff-queue-390');
  assert.deepEqual(phone.errors, []);
});

test('a page that does not exist, and a ticket nobody may see, say so in words', async () => {
  const page = await newPage();
  await signInByMagicLink(page, 'erin@example.com');
  await page.goto(`${base}/p/demo/tickets/999999`);
  await page.getByRole('heading', {level: 1, name: 'Not found'}).waitFor();
  await page.getByText('This page does not exist, or you do not have access to it.').waitFor();
  await page.goto(`${base}/p/no-such-desk/`);
  await page.getByRole('heading', {level: 1, name: 'Not found'}).waitFor();
  assert.deepEqual(page.errors, []);
});
