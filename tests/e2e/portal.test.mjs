// The portal pages end to end: a real portico-server (--demo) on 127.0.0.1 with a temporary
// data directory and mail directory, Debian's Chromium driven by playwright-core. Run by CTest
// (tests/CMakeLists.txt: e2e.portal) with PORTICO_SERVER set to the server to start;
// screenshots go to PORTICO_E2E_ARTIFACTS.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import crypto from 'node:crypto';
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
// The demo accounts' passwords, as the server printed them (random per data directory).
let staffPassword, customerPassword;

before(async () => {
  assert.ok(serverPath && fs.existsSync(serverPath), `PORTICO_SERVER must name portico-server (got ${serverPath})`);
  assert.ok(fs.existsSync(chromiumPath), `Chromium is not at ${chromiumPath} (scripts/install-deps.sh installs it)`);
  fs.mkdirSync(artifacts, {recursive: true});
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-data-'));
  mailDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-mail-'));
  // Every test signs in from 127.0.0.1: a larger allowance per address than the default 30 a
  // minute (the per-e-mail-address limit the last test meets is unchanged).
  server = spawn(serverPath, ['--data', dataDir, '--listen', '127.0.0.1:0', '--demo', '--mail-dir', mailDir,
    '--sign-in-rate', '600'],
    {stdio: ['ignore', 'pipe', 'inherit']});
  base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}`)), 30_000);
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      const customer = out.match(/demo password for customer ann@example\.com: (\S+)\n/);
      const staff = out.match(/demo password for staff agent@demo\.test: (\S+)\n/);
      if (m && customer && staff) {
        customerPassword = customer[1];
        staffPassword = staff[1];
        clearTimeout(timer);
        resolve(m[1]);
      }
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

// The names of the e-mails already in the mail directory: a link is looked for only in mail that
// arrives after them. (A time window would also take an earlier mail to the same address written
// within it, e.g. the confirmation when a reset link is asked for soon after; a slow server then
// hands the test the used link.)
function mailbox() {
  return new Set(fs.readdirSync(mailDir));
}

// The newest link with a token (matching `pattern`) in an e-mail to `address` that is not in
// `seen` (waits for it).
async function mailedLink(address, seen, pattern = /https?:\/\/\S+token=[A-Za-z0-9_-]+/) {
  const to = new RegExp(`^To:.*${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'mi');
  for (let i = 0; i < 100; ++i) {
    const files = fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml') && !seen.has(f))
      .map((f) => path.join(mailDir, f))
      .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    for (const f of files) {
      const text = unquote(fs.readFileSync(f, 'utf8'));
      if (!to.test(text)) continue;
      const link = text.match(pattern);
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
  const seen = mailbox();
  await page.goto(`${base}/p/demo/`);
  const magic = page.getByRole('region', {name: 'E-mail me a sign-in link'});
  await magic.getByLabel('E-mail address').fill(email);
  await magic.getByRole('button', {name: 'Send the link'}).click();
  await page.getByText('Check your inbox').waitFor();
  await page.goto(await mailedLink(email, seen));
  // The link asks before it signs in (login CSRF).
  await page.getByRole('button', {name: `Sign in as ${email}`}).click();
  await page.getByRole('heading', {level: 1, name: /^Hello, / }).waitFor();
}

async function signInByPassword(page, email, password) {
  const region = page.getByRole('region', {name: 'Sign in with your password'});
  await region.getByLabel('E-mail address').fill(email);
  await region.getByLabel('Password').fill(password);
  await region.getByRole('button', {name: 'Sign in'}).click();
}

async function staffSignIn(page) {
  await page.goto(`${base}/staff/`);
  await page.getByLabel('E-mail address').fill('agent@demo.test');
  await page.getByLabel('Password').fill(staffPassword);
  await page.getByLabel('Project').fill('demo');
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.getByRole('heading', {level: 1, name: 'Queue'}).waitFor();
}

// What an authenticator app shows for the base32 `secret`, `steps` time steps from now (RFC 6238).
function totpCode(secret, steps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...secret].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const at = mac[19] & 15;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function shot(page, name) {
  await page.screenshot({path: path.join(artifacts, `${name}.png`), fullPage: true});
}

async function noHorizontalOverflow(page) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `the page is ${scroll}px wide in a ${client}px viewport`);
}

// Every piece of text on the page against its effective background: WCAG AA (4.5:1, or 3:1 for
// large text). Returns what fails, with the text and the ratio.
async function contrastProblems(page) {
  return page.evaluate(() => {
    const rgba = (s) => (s.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => v / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
      }
      return [255, 255, 255];
    };
    const problems = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || !el || !el.getClientRects().length) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || el.closest('[hidden], option, .skip')) continue;
      const [a, b] = [lum(rgba(style.color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) problems.push(`${ratio.toFixed(2)}: ${n.textContent.trim().slice(0, 40)}`);
    }
    return problems;
  });
}

// Every visible form control has a name people hear: a <label>, or aria-label.
async function unlabelledControls(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.getClientRects().length && el.type !== 'hidden')
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
      !(el.tagName === 'BUTTON' && el.textContent.trim()) && !el.closest('fieldset legend'))
    .map((el) => el.outerHTML.slice(0, 80)));
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

  // Favorites it (a reply being typed meanwhile is kept): it is on the favorites page.
  await carol.getByRole('textbox', {name: 'Your message'}).fill('Half a thought');
  await carol.getByRole('button', {name: '☆ Mark as favorite'}).click();
  await carol.getByRole('button', {name: '★ Favorite'}).waitFor();
  assert.equal(await carol.getByRole('textbox', {name: 'Your message'}).inputValue(), 'Half a thought');
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
  // The project's survey options are offered (the demo keeps the defaults).
  assert.deepEqual(await survey.getByLabel('In a word').locator('option').allTextContents(),
    ['Choose one (optional)', 'Excellent', 'Good', 'Fair', 'Poor']);
  await survey.getByLabel('In a word').selectOption('Excellent');
  await survey.getByLabel(/Anything to add/).fill('Quick and kind.');
  await survey.getByRole('button', {name: 'Send the rating'}).click();
  await survey.waitFor({state: 'detached'});
  await shot(carol, 'ticket-1280');
  assert.deepEqual(await contrastProblems(carol), []);
  await carol.goto(`${base}/p/demo/`);
  await carol.getByRole('heading', {level: 1, name: /^Hello, /}).waitFor();
  assert.deepEqual(await contrastProblems(carol), []);
  await carol.goto(`${base}/p/demo/tickets`);
  await carol.locator('.tickets li').first().waitFor();
  assert.deepEqual(await contrastProblems(carol), []);
  assert.deepEqual(await contrastProblems(dana), []);
  assert.deepEqual(await unlabelledControls(carol), []);
  assert.deepEqual(await unlabelledControls(dana), []);
  await carol.goto(`${base}/p/demo/tickets/${number}`);
  await carol.getByRole('heading', {level: 1, name: /^#\d+ /}).waitFor();
  assert.deepEqual(await unlabelledControls(carol), []);
  assert.deepEqual(carol.errors, []);
  assert.deepEqual(dana.errors, []);
});

test('the main pages fit a 390 px wide phone and are kept as screenshots', async () => {
  const narrow = await newPage({width: 360, height: 740});
  await signInByMagicLink(narrow, 'dave.narrow@example.com');
  await noHorizontalOverflow(narrow);
  await openTicket(narrow, 'demo', 'Narrow screens, long words: Donaudampfschifffahrtsgesellschaftskapitän');
  await noHorizontalOverflow(narrow);
  await narrow.goto(`${base}/p/demo/tickets`);
  await narrow.locator('.tickets li').first().waitFor();
  await noHorizontalOverflow(narrow);
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
  assert.deepEqual(narrow.errors, []);
  assert.deepEqual(staff.errors, []);
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

test('invite flow: a second customer opens the link, signs in, joins and replies; removed, she sees not found', async () => {
  const carol = await newPage();
  await signInByMagicLink(carol, 'carol.invites@example.com');
  await carol.goto(`${base}/p/demo/tickets/new`);
  await carol.getByLabel(/^Subject/).fill('Printer on floor 3');
  await carol.getByLabel(/^What happened\?/).fill('It prints blank pages.');
  await carol.getByRole('button', {name: 'Open the ticket'}).click();
  const heading = carol.getByRole('heading', {level: 1, name: /^#\d+ Printer on floor 3$/});
  await heading.waitFor();
  const ticketPath = new URL(carol.url()).pathname;
  await carol.getByRole('button', {name: 'Invite someone'}).click();
  const link = await carol.getByRole('textbox', {name: 'Invitation link'}).inputValue();
  assert.match(link, /\/invite\/[A-Za-z0-9_-]+$/);
  // A second link, revoked at once, works for nobody.
  await carol.getByRole('button', {name: 'Invite someone'}).click();
  await carol.waitForFunction((first) => document.querySelector('input[aria-label="Invitation link"]')?.value !== first, link);
  const revoked = await carol.getByRole('textbox', {name: 'Invitation link'}).inputValue();
  await carol.getByRole('button', {name: 'Revoke'}).click();
  await carol.getByText('The link no longer works.').waitFor();
  const stranger = await newPage();
  await stranger.goto(revoked);
  await stranger.getByText('This invitation is no longer valid.').waitFor();

  // Fran opens it without a session: basic information, then sign in, then join.
  const fran = await newPage();
  await fran.goto(link);
  await fran.getByRole('heading', {level: 1, name: 'Join a ticket at Demo Support'}).waitFor();
  await fran.getByText('Printer on floor 3').waitFor();
  await fran.getByRole('link', {name: 'Sign in to join'}).click();
  const seen = mailbox();
  const magic = fran.getByRole('region', {name: 'E-mail me a sign-in link'});
  await magic.getByLabel('E-mail address').fill('fran@example.com');
  await magic.getByRole('button', {name: 'Send the link'}).click();
  await fran.getByText('Check your inbox').waitFor();
  await fran.goto(await mailedLink('fran@example.com', seen));
  await fran.getByRole('button', {name: 'Sign in as fran@example.com'}).click();
  await fran.getByRole('button', {name: 'Join the ticket'}).click();
  await fran.getByRole('heading', {level: 1, name: /^#\d+ Printer on floor 3$/}).waitFor();
  await fran.getByRole('textbox', {name: 'Your message'}).fill('Same on floor 4.');
  await fran.getByRole('button', {name: 'Send'}).click();
  await fran.getByText('Same on floor 4.').waitFor();
  // Fran makes a link of her own (one she could come back through after a removal).
  await fran.getByRole('button', {name: 'Invite someone'}).click();
  const franLink = await fran.getByRole('textbox', {name: 'Invitation link'}).inputValue();
  assert.match(franLink, /\/invite\/[A-Za-z0-9_-]+$/);

  // The creator sees her and the links that work (hers and Fran's), and removes her.
  await carol.reload();
  await carol.getByText('Same on floor 4.').waitFor();
  const people = carol.getByRole('region', {name: 'People'});
  await people.getByRole('listitem').filter({hasText: /^fran/}).waitFor();
  const links = people.getByRole('list', {name: 'Invitation links that work'});
  await links.getByRole('listitem').filter({hasText: 'Made by fran'}).waitFor();
  assert.equal(await links.getByRole('listitem').count(), 2);
  await people.getByRole('button', {name: 'Remove'}).click();
  await people.getByRole('button', {name: 'Remove'}).waitFor({state: 'detached'});
  // Removing her ended the link she made; the creator revokes her own from the list.
  await links.getByRole('listitem').filter({hasText: 'Made by fran'}).waitFor({state: 'detached'});
  assert.equal(await links.getByRole('listitem').count(), 1);
  await links.getByRole('button', {name: /^Revoke the link/}).click();
  await links.waitFor({state: 'detached'});
  for (const dead of [franLink, link]) {
    await fran.goto(dead);
    await fran.getByText('This invitation is no longer valid.').waitFor();
  }

  // Removed: the ticket is not found for her.
  await fran.goto(`${base}${ticketPath}`);
  await fran.getByRole('heading', {level: 1, name: 'Not found'}).waitFor();
  assert.deepEqual(carol.errors, []);
  assert.deepEqual(fran.errors, []);
});

// A staff route called as the demo's staff member (signed in once, by bearer token): the answer.
let staffToken = null;
async function staffApi(method, route, body) {
  if (!staffToken) {
    const login = await fetch(`${base}/api/v1/staff/auth/login`, {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({email: 'agent@demo.test', password: staffPassword})});
    assert.equal(login.status, 200);
    staffToken = (await login.json()).token;
  }
  return fetch(`${base}/api/v1/staff/projects${route}`, {method,
    headers: {'Content-Type': 'application/json', Authorization: `Bearer ${staffToken}`}, body: JSON.stringify(body)});
}
async function setStatusAsStaff(project, number, status) {
  const r = await staffApi('POST', `/${project}/tickets/${number}/status`, {status});
  assert.equal(r.status, 200, await r.text());
}
async function staffReply(project, number, body) {
  const r = await staffApi('POST', `/${project}/tickets/${number}/messages`, {body, internal: false});
  assert.equal(r.status, 201, await r.text());
}

async function openTicket(page, project, subject) {
  await page.goto(`${base}/p/${project}/tickets/new`);
  await page.getByLabel(/^Subject/).fill(subject);
  await page.getByLabel(/^What happened\?/).fill('Details.');
  await page.getByRole('button', {name: 'Open the ticket'}).click();
  const heading = page.getByRole('heading', {level: 1, name: new RegExp(`^#\\d+ ${subject}$`)});
  await heading.waitFor();
  return (await heading.textContent()).match(/^#(\d+)/)[1];
}

test('a closed ticket shows no reply box and says why; where replies reopen, a reply reopens it', async () => {
  const gail = await newPage();
  await signInByMagicLink(gail, 'gail@example.com');
  const n = await openTicket(gail, 'demo', 'Closed for good');
  await setStatusAsStaff('demo', n, 'closed');
  await gail.reload();
  await gail.getByText('This ticket is closed — you can no longer reply.').waitFor();
  assert.equal(await gail.getByRole('textbox', {name: 'Your message'}).count(), 0);
  assert.equal(await gail.getByRole('button', {name: 'Edit'}).count(), 0);
  assert.equal(await gail.locator('.reactions').count(), 0);  // reactions are refused on a closed ticket
  assert.equal(await gail.getByRole('button', {name: '☆ Mark as favorite'}).count(), 0);

  // A project whose closed tickets reopen on a reply (made with portico-admin beside the server).
  const admin = process.env.PORTICO_ADMIN;
  assert.ok(admin && fs.existsSync(admin), `PORTICO_ADMIN must name portico-admin (got ${admin})`);
  const made = spawn(admin, ['--data', dataDir, 'project', 'create', 'reopens', '--name', 'Reopens Desk',
    '--closed-tickets', 'reply_reopens', '--sign-in', 'magic_link'], {stdio: 'inherit'});
  assert.equal(await new Promise((r) => made.on('exit', r)), 0);
  const staffAdd = spawn(admin, ['--data', dataDir, 'staff', 'add', '--project', 'reopens', '--email', 'agent@demo.test',
    '--name', 'Dana Agent', '--role', 'agent'], {stdio: ['pipe', 'inherit', 'inherit']});
  staffAdd.stdin.end(`${staffPassword}\n`);
  assert.equal(await new Promise((r) => staffAdd.on('exit', r)), 0);
  const seen = mailbox();
  await gail.goto(`${base}/p/reopens/`);
  await gail.getByLabel('E-mail address').fill('gail@example.com');
  await gail.getByRole('button', {name: 'Send the link'}).click();
  await gail.getByText('Check your inbox').waitFor();
  await gail.goto(await mailedLink('gail@example.com', seen));
  await gail.getByRole('button', {name: 'Sign in as gail@example.com'}).click();
  await gail.getByRole('heading', {level: 1, name: /^Hello, /}).waitFor();
  const m = await openTicket(gail, 'reopens', 'Reopened by a reply');
  await setStatusAsStaff('reopens', m, 'closed');
  await gail.reload();
  await gail.getByText('This ticket is closed; replying reopens it.').waitFor();
  await gail.getByRole('textbox', {name: 'Your message'}).fill('It came back.');
  await gail.getByRole('button', {name: 'Reply and reopen'}).click();
  await gail.getByText('It came back.').waitFor();
  assert.notEqual(await gail.locator('.status').first().textContent(), 'Closed');

  // The bell gathers both projects: staff answer her in each, and one list shows both.
  const d = await openTicket(gail, 'demo', 'Second desk question');
  await staffReply('demo', d, 'Answer from the demo desk.');
  await staffReply('reopens', m, 'Answer from the reopening desk.');
  await gail.goto(`${base}/p/reopens/notifications`);
  await gail.getByText('Answer from the demo desk.').waitFor();
  await gail.getByText('Answer from the reopening desk.').waitFor();
  await gail.getByText(/^demo · /).first().waitFor();
  await gail.getByText(/^reopens · /).first().waitFor();
  await gail.getByRole('link', {name: /Support replied · #\d+ Second desk question/}).click();
  await gail.getByRole('heading', {level: 1, name: /Second desk question$/}).waitFor();
  assert.match(new URL(gail.url()).pathname, /^\/p\/demo\/tickets\/\d+$/);
  assert.deepEqual(gail.errors, []);
});

test('staff: an internal note is marked as such and customers never see it; queue filters, status, priority and team', async () => {
  const hana = await newPage();
  await signInByMagicLink(hana, 'hana@example.com');
  const n = await openTicket(hana, 'demo', 'Billing question');
  // She corrects her message: staff see the earlier version too.
  await hana.locator('.thread .message').first().getByRole('button', {name: 'Edit'}).click();
  await hana.getByLabel('Edit your message').fill('Details, with the invoice number.');
  await hana.getByRole('button', {name: 'Save'}).click();
  await hana.getByText('Details, with the invoice number.').waitFor();
  const dana = await newPage();
  await staffSignIn(dana);
  await dana.goto(`${base}/staff/demo/tickets/${n}`);
  await dana.getByText('Earlier versions (1)').click();
  await dana.locator('.history').getByText('Details.', {exact: true}).waitFor();
  assert.equal(await hana.getByText('Earlier versions').count(), 0);  // customers see no history
  await dana.getByRole('textbox', {name: 'Answer'}).fill('Check her last invoice first.');
  await dana.getByLabel('Internal note (only staff see it)').check();
  await dana.getByRole('button', {name: 'Send'}).click();
  const note = dana.locator('.message.internal');
  await note.getByText('Check her last invoice first.').waitFor();
  await note.getByText('Internal note — customers never see this').waitFor();
  assert.deepEqual(await contrastProblems(dana), []);
  // Priority and team, then a status.
  await dana.getByLabel('Priority').selectOption('high');
  await dana.getByLabel(/^Team/).fill('billing');
  await dana.getByRole('button', {name: 'Save priority and team'}).click();
  await dana.getByText(/priority high · team billing/).waitFor();
  await dana.getByLabel('Status', {exact: true}).selectOption('in_progress');
  await dana.getByRole('button', {name: 'Change status'}).click();
  await dana.locator('.status', {hasText: 'In progress'}).first().waitFor();
  // The queue filtered by team shows it; by another team it does not.
  await dana.goto(`${base}/staff/demo/?team=billing`);
  await dana.getByRole('link', {name: `#${n}`, exact: true}).waitFor();
  await dana.goto(`${base}/staff/demo/?team=other`);
  await dana.getByText('No tickets match.').waitFor();
  // The customer never sees the note.
  await hana.reload();
  await hana.getByText('In progress').first().waitFor();
  assert.equal(await hana.getByText('Check her last invoice first.').count(), 0);
  assert.deepEqual(hana.errors, []);
  assert.deepEqual(dana.errors, []);
});

test('staff sign in at their project\'s address and react to, edit and delete their own reply', async () => {
  const jo = await newPage();
  await signInByMagicLink(jo, 'jo@example.com');
  const n = await openTicket(jo, 'demo', 'Printer on fire');
  const dana = await newPage();
  // The console's address names the project: its name heads the page, and it is not asked again.
  await dana.goto(`${base}/staff/demo/tickets/${n}`);
  await dana.getByRole('heading', {level: 1, name: /^Staff sign-in — Demo Support/}).waitFor();
  assert.doesNotMatch(await dana.locator('#top').innerText(), /null/);
  assert.match(await dana.locator('#top').innerText(), /Demo Support · staff/);
  assert.equal(await dana.getByLabel('Project').count(), 0);
  await dana.getByLabel('E-mail address').fill('agent@demo.test');
  await dana.getByLabel('Password').fill(staffPassword);
  await dana.getByRole('button', {name: 'Sign in'}).click();
  await dana.getByRole('heading', {level: 1, name: 'Queue'}).waitFor();
  await dana.goto(`${base}/staff/demo/tickets/${n}`);
  // Her reply: she edits it, then deletes it; the customer's message has no such controls for her.
  await dana.getByRole('textbox', {name: 'Answer'}).fill('Unplug it first.');
  await dana.getByRole('button', {name: 'Send'}).click();
  const reply = dana.locator('.thread .message.staff');
  await reply.getByText('Unplug it first.').waitFor();
  assert.equal(await dana.locator('.thread .message').first().getByRole('button', {name: 'Edit'}).count(), 0);
  await reply.getByRole('button', {name: 'Edit'}).click();
  await dana.getByLabel('Edit your message').fill('Unplug it first, then call us.');
  await dana.getByRole('button', {name: 'Save', exact: true}).click();
  await dana.locator('.thread .message.staff').getByText('Unplug it first, then call us.').waitFor();
  await jo.reload();
  await jo.getByText('Unplug it first, then call us.').waitFor();
  // She reacts to the customer's message; the customer sees the count.
  await dana.locator('.thread .message').first().getByRole('button', {name: /^👍 0/}).click();
  await dana.locator('.thread .message').first().getByRole('button', {name: '👍 1, yours'}).waitFor();
  await jo.reload();
  await jo.locator('.thread .message').first().getByRole('button', {name: '👍 1', exact: true}).waitFor();
  await dana.locator('.thread .message.staff').getByRole('button', {name: 'Delete'}).click();
  await dana.getByText('This message was deleted.').waitFor();
  await jo.reload();
  await jo.getByText('This message was deleted.').waitFor();
  assert.equal(await jo.getByText('Unplug it first, then call us.').count(), 0);
  assert.deepEqual(dana.errors, []);
  assert.deepEqual(jo.errors, []);
});

test('validation messages sit by their field', async () => {
  const ivan = await newPage();
  await signInByMagicLink(ivan, 'ivan@example.com');
  await ivan.goto(`${base}/p/demo/tickets/new`);
  await ivan.getByRole('button', {name: 'Open the ticket'}).click();
  const subject = ivan.getByLabel(/^Subject/);
  await ivan.getByText('Write a subject.').waitFor();
  assert.equal(await subject.getAttribute('aria-invalid'), 'true');
  // The server's own refusal (too long, past the page's maxlength) lands by its field too.
  await subject.evaluate((el) => el.removeAttribute('maxlength'));
  await subject.fill('x'.repeat(201));
  await ivan.getByLabel(/^What happened\?/).fill('Details.');
  await ivan.getByRole('button', {name: 'Open the ticket'}).click();
  await ivan.locator('.field-error').first().waitFor();
  assert.equal(await subject.getAttribute('aria-invalid'), 'true');
  assert.equal(await ivan.locator('.field').filter({has: subject}).locator('.field-error').count(), 1);

  assert.deepEqual(ivan.errors, []);
});

test('password sign-in with the keyboard alone, focus always visible, and sign out', async () => {
  const ann = await newPage();
  await ann.goto(`${base}/p/demo/sign-in`);
  const password = ann.getByRole('region', {name: 'Sign in with your password'});
  await password.getByLabel('E-mail address').focus();
  await ann.keyboard.type('ann@example.com');
  await ann.keyboard.press('Tab');
  assert.equal(await ann.evaluate(() => document.activeElement.getAttribute('type')), 'password');
  const outline = await ann.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused field shows no focus ring');
  await ann.keyboard.type(customerPassword);
  await ann.keyboard.press('Enter');
  await ann.getByRole('heading', {level: 1, name: 'Hello, Ann Example'}).or(ann.getByRole('heading', {level: 1, name: /^Hello, /})).waitFor();
  // Tabbing reaches the header, whose focus ring stands out from the header's own colour.
  let inHeader = false;
  for (let i = 0; i < 20 && !inHeader; ++i) {
    await ann.keyboard.press('Tab');
    inHeader = await ann.evaluate(() => Boolean(document.activeElement.closest('.top')));
  }
  assert.ok(inHeader, 'Tab never reached the header');
  const ring = await ann.evaluate(() => [getComputedStyle(document.activeElement).outlineColor,
    getComputedStyle(document.querySelector('.top')).backgroundColor, getComputedStyle(document.activeElement).outlineStyle]);
  assert.notEqual(ring[2], 'none');
  assert.notEqual(ring[0], ring[1], 'the focus ring has the header\'s colour');
  // Enter follows a focused link.
  await ann.getByRole('link', {name: 'My tickets'}).last().focus();
  await ann.keyboard.press('Enter');
  await ann.getByRole('heading', {level: 1, name: 'Tickets'}).waitFor();
  await ann.getByRole('button', {name: 'Sign out'}).click();
  await ann.getByRole('heading', {level: 1, name: 'Sign in to Demo Support'}).waitFor();
  await ann.goto(`${base}/p/demo/tickets`);
  await ann.getByRole('heading', {level: 1, name: 'Sign in to Demo Support'}).waitFor();  // signed out for real
  assert.deepEqual(ann.errors, []);
});

test('a sign-in link someone else asked for does not sign in until the person says so', async () => {
  const victim = await newPage();
  await signInByMagicLink(victim, 'vera@example.com');
  // Mallory asks for a link to her own address and sends it to Vera.
  const seen = mailbox();
  const asked = await fetch(`${base}/api/v1/auth/magic-link`, {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({project: 'demo', email: 'mallory@example.com'})});
  assert.equal(asked.status, 202);
  await victim.goto(await mailedLink('mallory@example.com', seen));
  await victim.getByRole('heading', {level: 1, name: 'Sign in to Demo Support'}).waitFor();
  await victim.getByText('This link signs you in as mallory@example.com.').waitFor();
  await victim.getByText('You are signed in as vera@example.com: continuing signs you in as mallory@example.com instead.').waitFor();
  // Opening it changed nothing: Vera is still Vera.
  const me = await victim.evaluate(async () => (await (await fetch('/api/v1/me')).json()).customer.email);
  assert.equal(me, 'vera@example.com');
  await victim.getByRole('button', {name: 'Sign in as mallory@example.com'}).waitFor();
  assert.deepEqual(victim.errors, []);
});

test('register, confirm by e-mail, forget the password and choose a new one', async () => {
  const kim = await newPage();
  let seen = mailbox();
  await kim.goto(`${base}/p/demo/register`);
  await kim.getByLabel('Your name').fill('Kim Park');
  await kim.getByLabel('E-mail address').fill('kim@example.com');
  await kim.getByLabel(/^Password/).fill('short');
  await kim.getByRole('button', {name: 'Create account'}).click();
  await kim.locator('.field-error').waitFor();  // a weak password is refused by its field
  await kim.getByLabel(/^Password/).fill('kim likes quiet mornings');
  await kim.getByRole('button', {name: 'Create account'}).click();
  await kim.getByText('Almost there').waitFor();
  await kim.goto(await mailedLink('kim@example.com', seen));
  await kim.getByRole('heading', {level: 1, name: 'Confirm your address for Demo Support'}).waitFor();
  await kim.getByRole('button', {name: 'Confirm and sign in as kim@example.com'}).click();
  await kim.getByRole('heading', {level: 1, name: 'Hello, Kim Park'}).waitFor();
  await kim.getByRole('button', {name: 'Sign out'}).click();
  seen = mailbox();
  await kim.getByRole('link', {name: 'Forgot your password?'}).click();
  await kim.getByLabel('E-mail address').fill('kim@example.com');
  await kim.getByRole('button', {name: 'E-mail me a reset link'}).click();
  await kim.getByText('a reset link is on its way').waitFor();
  await kim.goto(await mailedLink('kim@example.com', seen));
  await kim.getByLabel(/^New password/).fill('kim reads in the evening');
  await kim.getByRole('button', {name: 'Save the password'}).click();
  await kim.getByText('Your password is saved').waitFor();
  await signInByPassword(kim, 'kim@example.com', 'kim reads in the evening');
  await kim.getByRole('heading', {level: 1, name: 'Hello, Kim Park'}).waitFor();
  assert.deepEqual(kim.errors, []);
});

test('edit and delete one\'s own message, close a resolved ticket, leave the project', async () => {
  const lea = await newPage();
  await signInByMagicLink(lea, 'lea@example.com');
  const n = await openTicket(lea, 'demo', 'Fix my typo');
  const first = lea.locator('.thread .message').first();
  await first.getByRole('button', {name: 'Edit'}).click();
  await lea.getByLabel('Edit your message').fill('Details, corrected.');
  await lea.getByRole('button', {name: 'Save'}).click();
  await lea.getByText('Details, corrected.').waitFor();
  await lea.getByText('(edited)').waitFor();
  await lea.getByRole('textbox', {name: 'Your message'}).fill('A second thought.');
  await lea.getByRole('button', {name: 'Send'}).click();
  const second = lea.locator('.thread .message').nth(1);
  await second.getByText('A second thought.').waitFor();
  await second.getByRole('button', {name: 'Delete'}).click();
  await lea.getByText('This message was deleted.').waitFor();
  // Resolved by staff (API), then closed by her.
  await setStatusAsStaff('demo', n, 'resolved');
  await lea.reload();
  await lea.getByRole('button', {name: 'Close now'}).click();
  await lea.getByText('This ticket is closed — you can no longer reply.').waitFor();
  // Leaves the project: back to its sign-in page, her lists gone until she signs in again.
  await lea.goto(`${base}/p/demo/`);
  await lea.getByRole('button', {name: 'Leave Demo Support'}).click();
  await lea.getByRole('heading', {level: 1, name: 'Sign in to Demo Support'}).waitFor();
  assert.deepEqual(lea.errors, []);
});

test('staff schedule a closure and cancel it', async () => {
  const mia = await newPage();
  await signInByMagicLink(mia, 'mia@example.com');
  const n = await openTicket(mia, 'demo', 'Close me later');
  const dana = await newPage();
  await staffSignIn(dana);
  await dana.goto(`${base}/staff/demo/tickets/${n}`);
  const later = new Date(Date.now() + 3 * 86400_000);
  const local = new Date(later.getTime() - later.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await dana.getByLabel('Close automatically at').fill(local);
  await dana.getByRole('button', {name: 'Schedule closure'}).click();
  await dana.getByText(/^Closes on /).waitFor();
  await dana.locator('.status', {hasText: 'Closing soon'}).first().waitFor();
  await mia.reload();
  await mia.getByText(/^This ticket closes on .+\.$/).waitFor();
  await dana.getByRole('button', {name: 'Cancel the scheduled closure'}).click();
  await dana.locator('.status', {hasText: 'Open'}).first().waitFor();
  assert.deepEqual(dana.errors, []);
});

test('load more pages through a long list; a participant leaves; one notification marked read', async () => {
  const olga = await newPage();
  await signInByMagicLink(olga, 'olga@example.com');
  // 25 tickets through the API, as her (cookie and CSRF token from the page's own sign-in).
  const made = await olga.evaluate(async () => {
    const csrf = localStorage.getItem('portico.csrf.customer');
    let n = 0;
    for (let i = 1; i <= 25; ++i) {
      const r = await fetch('/api/v1/projects/demo/tickets', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
        body: JSON.stringify({subject: `Batch ticket ${i}`, message: 'One of many.'})});
      if (r.status === 201) n = (await r.json()).number;
    }
    return n;
  });
  await olga.goto(`${base}/p/demo/tickets`);
  await olga.locator('.tickets .subject', {hasText: /Batch ticket 25$/}).waitFor();
  assert.equal(await olga.locator('.tickets li').count(), 20);
  await olga.getByRole('button', {name: 'Load more'}).click();
  await olga.locator('.tickets .subject', {hasText: /Batch ticket 1$/}).waitFor();
  assert.equal(await olga.locator('.tickets li').count(), 25);
  await olga.getByRole('button', {name: 'Load more'}).waitFor({state: 'hidden'});

  // Pat joins her last ticket by an invite and leaves it again.
  await olga.goto(`${base}/p/demo/tickets/${made}`);
  await olga.getByRole('button', {name: 'Invite someone'}).click();
  const link = await olga.getByRole('textbox', {name: 'Invitation link'}).inputValue();
  const pat = await newPage();
  await signInByMagicLink(pat, 'pat@example.com');
  await pat.goto(link);
  await pat.getByRole('button', {name: 'Join the ticket'}).click();
  await pat.getByRole('heading', {level: 1, name: /Batch ticket 25$/}).waitFor();
  await pat.getByRole('button', {name: 'Request closure'}).waitFor();  // participants may ask too
  assert.equal(await pat.getByRole('button', {name: 'Remove'}).count(), 0);  // only the creator removes
  await pat.getByRole('button', {name: 'Leave this ticket'}).click();
  await pat.getByRole('heading', {level: 1, name: 'Tickets'}).waitFor();
  await pat.goto(`${base}/p/demo/tickets/${made}`);
  await pat.getByRole('heading', {level: 1, name: 'Not found'}).waitFor();

  // Two staff replies: marking one read leaves the other unread.
  await staffReply('demo', made, 'First answer.');
  await staffReply('demo', made - 1, 'Second answer.');
  await olga.goto(`${base}/p/demo/notifications`);
  await olga.getByRole('link', {name: /Notifications, 2 unread/}).waitFor();
  await olga.locator('.notifications li.unread').first().getByRole('button', {name: 'Mark read'}).click();
  await olga.locator('.notifications li.unread').nth(1).waitFor({state: 'detached'});
  assert.equal(await olga.locator('.notifications li.unread').count(), 1);
  await olga.reload();
  await olga.getByRole('link', {name: /Notifications, 1 unread/}).waitFor();
  assert.deepEqual(olga.errors, []);
  assert.deepEqual(pat.errors, []);
});

test('an invitation followed by a password sign-in comes back to the invitation', async () => {
  const quinn = await newPage();
  await signInByMagicLink(quinn, 'quinn@example.com');
  const n = await openTicket(quinn, 'demo', 'Shared with Ann');
  await quinn.getByRole('button', {name: 'Invite someone'}).click();
  const link = await quinn.getByRole('textbox', {name: 'Invitation link'}).inputValue();
  const ann = await newPage();
  await ann.goto(link);
  await ann.getByRole('link', {name: 'Sign in to join'}).click();
  await signInByPassword(ann, 'ann@example.com', customerPassword);
  await ann.getByRole('button', {name: 'Join the ticket'}).click();
  await ann.getByRole('heading', {level: 1, name: `#${n} Shared with Ann`}).waitFor();
  // Used once: the next sign-in goes home, not back to the invitation.
  assert.equal(await ann.evaluate(() => sessionStorage.getItem('portico.after-sign-in')), null);
  assert.deepEqual(ann.errors, []);
});

test('the survey link in a feedback e-mail is answered without signing in, once', async () => {
  const rosa = await newPage();
  await signInByMagicLink(rosa, 'rosa@example.com');
  const n = await openTicket(rosa, 'demo', 'Rate me by e-mail');
  const seen = mailbox();
  await setStatusAsStaff('demo', n, 'resolved');  // asks for feedback: an e-mail with the survey link
  const link = await mailedLink('rosa@example.com', seen, /https?:\/\/\S+\/p\/demo\/survey\?token=[A-Za-z0-9_.-]+/);
  const anyone = await newPage();  // another browser: no session at all
  await anyone.goto(link);
  await anyone.getByRole('heading', {level: 1, name: 'Rate the help you got from Demo Support'}).waitFor();
  await anyone.getByText('Rate me by e-mail').waitFor();
  await anyone.getByRole('button', {name: 'Send the rating'}).click();
  await anyone.getByText('Choose a rating from 1 to 5.').waitFor();
  await anyone.getByLabel('4').check();
  await anyone.getByRole('button', {name: 'Send the rating'}).click();
  await anyone.getByRole('heading', {level: 1, name: 'Thank you'}).waitFor();
  await anyone.goto(link);  // answered: the link says so
  await anyone.getByText('This survey was already answered or has expired.').waitFor();
  assert.deepEqual(anyone.errors, []);
});

test('the project\'s theme: its colours, text that reads on them, and its logo', async () => {
  const logo = 'data:image/svg+xml;base64,' + Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18" fill="#24292f"/></svg>').toString('base64');
  const made = spawn(process.env.PORTICO_ADMIN, ['--data', dataDir, 'project', 'create', 'themed', '--name', 'Sunny Desk',
    '--sign-in', 'magic_link,password', '--primary-color', '#ffd33d', '--accent-color', '#8250df', '--logo-url', logo],
  {stdio: 'inherit'});
  assert.equal(await new Promise((r) => made.on('exit', r)), 0);
  const page = await newPage();
  await page.goto(`${base}/p/themed/sign-in`);
  await page.getByRole('heading', {level: 1, name: 'Sign in to Sunny Desk'}).waitFor();
  const header = await page.evaluate(() => {
    const top = getComputedStyle(document.querySelector('.top'));
    const img = document.querySelector('.top img');
    return {background: top.backgroundColor, color: getComputedStyle(document.querySelector('.top .brand')).color,
      logo: img ? img.naturalWidth : 0, title: document.title};
  });
  assert.equal(header.background, 'rgb(255, 211, 61)');
  assert.equal(header.color, 'rgb(31, 35, 40)');  // dark text on the light yellow, not white
  assert.equal(header.logo, 40);
  assert.equal(header.title, 'Sign in to Sunny Desk — Sunny Desk support');  // the page, then the site
  // Links and buttons in a yellow that would not read are darkened: every text passes AA.
  assert.deepEqual(await contrastProblems(page), []);
  await shot(page, 'themed-sign-in-1280');
  assert.deepEqual(page.errors, []);
});

// Last: it uses up an e-mail address's allowance of sign-in e-mails.
test('asking for sign-in links again and again: the page says how long to wait', async () => {
  const judy = await newPage();
  await judy.goto(`${base}/p/demo/sign-in`);
  const magic = judy.getByRole('region', {name: 'E-mail me a sign-in link'});
  await magic.getByLabel('E-mail address').fill('judy@example.com');
  for (let i = 0; i < 20; ++i) {
    await magic.getByRole('button', {name: 'Send the link'}).click();
    await magic.getByRole('button', {name: 'Send the link'}).isEnabled();
    if (await magic.getByText(/Too many attempts\. Please wait \d+ (seconds|minutes) and try again\./).count()) break;
  }
  await magic.getByText(/Too many attempts\. Please wait \d+ (seconds|minutes) and try again\./).waitFor();
  assert.deepEqual(await contrastProblems(judy), []);  // the sign-in page with an error on it
  assert.deepEqual(judy.errors, []);
});

test('a customer turns on two-factor sign-in on her profile and signs in with a code and a recovery code', async () => {
  const tia = await newPage();
  const seen = mailbox();
  await tia.goto(`${base}/p/demo/register`);
  await tia.getByLabel('Your name').fill('Tia Berg');
  await tia.getByLabel('E-mail address').fill('tia@example.com');
  await tia.getByLabel(/^Password/).fill('tia keeps two keys safe');
  await tia.getByRole('button', {name: 'Create account'}).click();
  await tia.getByText('Almost there').waitFor();
  await tia.goto(await mailedLink('tia@example.com', seen));
  await tia.getByRole('button', {name: 'Confirm and sign in as tia@example.com'}).click();
  await tia.getByRole('heading', {level: 1, name: 'Hello, Tia Berg'}).waitFor();

  await tia.getByRole('link', {name: 'Your profile (Tia Berg)'}).click();
  await tia.getByRole('heading', {level: 1, name: 'Your profile'}).waitFor();
  await tia.getByRole('button', {name: 'Turn on two-factor sign-in'}).click();
  const qr = tia.getByRole('img', {name: 'QR code for your authenticator app'});
  await qr.waitFor();
  assert.ok((await qr.evaluate((img) => img.naturalWidth)) > 0, 'the QR code does not load');
  const secret = (await tia.locator('.totp-secret').textContent()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  const right = totpCode(secret);
  await tia.getByLabel('Code from the app').fill(right === '000000' ? '111111' : '000000');
  await tia.getByRole('button', {name: 'Turn it on'}).click();
  await tia.locator('.field-error').waitFor();  // a wrong code is refused by its field
  await tia.getByLabel('Code from the app').fill(totpCode(secret));
  await tia.getByRole('button', {name: 'Turn it on'}).click();
  await tia.getByText('Two-factor sign-in is on.').waitFor();
  const codes = await tia.locator('.recovery-codes code').allTextContents();
  assert.equal(codes.length, 10);
  await shot(tia, 'profile-recovery-codes');
  await tia.getByRole('button', {name: 'I have saved them'}).click();
  await tia.getByRole('button', {name: 'Turn off two-factor sign-in'}).waitFor();

  // Signing in now asks for the code after the password.
  await tia.getByRole('button', {name: 'Sign out'}).click();
  await signInByPassword(tia, 'tia@example.com', 'tia keeps two keys safe');
  const region = tia.getByRole('region', {name: 'Sign in with your password'});
  const code = region.getByLabel('Code from your authenticator app');
  await code.waitFor();
  await tia.getByText('Enter the code from your authenticator app.').waitFor();
  assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'the code field has no focus');
  await code.fill(totpCode(secret, 1));
  await region.getByRole('button', {name: 'Sign in'}).click();
  await tia.getByRole('heading', {level: 1, name: 'Hello, Tia Berg'}).waitFor();

  // A recovery code instead, as a person types it.
  await tia.getByRole('button', {name: 'Sign out'}).click();
  await signInByPassword(tia, 'tia@example.com', 'tia keeps two keys safe');
  await region.getByLabel('Code from your authenticator app').fill(codes[0].toLowerCase());
  await region.getByRole('button', {name: 'Sign in'}).click();
  await tia.getByRole('heading', {level: 1, name: 'Hello, Tia Berg'}).waitFor();

  await tia.getByRole('link', {name: 'Your profile (Tia Berg)'}).click();
  await tia.getByLabel('A code from the app, or a recovery code').fill(codes[1]);
  await tia.getByRole('button', {name: 'Turn off two-factor sign-in'}).click();
  await tia.getByRole('button', {name: 'Turn on two-factor sign-in'}).waitFor();
  assert.deepEqual(tia.errors, []);
});

test('staff of a project that requires two-factor sign-in are told so, turn it on in the console and sign in with a code', async () => {
  // A project that requires it, served by the demo's agent (portico-admin beside the server).
  const admin = process.env.PORTICO_ADMIN;
  const made = spawn(admin, ['--data', dataDir, 'project', 'create', 'strict', '--name', 'Strict Desk',
    '--staff-totp', 'required'], {stdio: 'inherit'});
  assert.equal(await new Promise((r) => made.on('exit', r)), 0);
  const staffAdd = spawn(admin, ['--data', dataDir, 'staff', 'add', '--project', 'strict', '--email', 'agent@demo.test',
    '--name', 'Dana Agent', '--role', 'agent'], {stdio: ['pipe', 'inherit', 'inherit']});
  staffAdd.stdin.end(`${staffPassword}\n`);
  assert.equal(await new Promise((r) => staffAdd.on('exit', r)), 0);

  const agent = await newPage();
  let codes = [];
  try {
    await agent.goto(`${base}/staff/strict/`);
    await agent.getByLabel('E-mail address').fill('agent@demo.test');
    await agent.getByLabel('Password').fill(staffPassword);
    await agent.getByRole('button', {name: 'Sign in'}).click();
    // Signed in, but the queue is closed until two-factor sign-in is on.
    await agent.getByRole('heading', {level: 1, name: 'Two-factor sign-in needed'}).waitFor();
    await agent.getByText('Strict Desk requires two-factor sign-in for staff').waitFor();
    await agent.getByRole('link', {name: 'Turn on two-factor sign-in'}).click();
    await agent.getByRole('heading', {level: 1, name: 'Your account'}).waitFor();
    await agent.getByRole('button', {name: 'Turn on two-factor sign-in'}).click();
    await agent.getByRole('img', {name: 'QR code for your authenticator app'}).waitFor();
    const secret = (await agent.locator('.totp-secret').textContent()).trim();
    await agent.getByLabel('Code from the app').fill(totpCode(secret));
    await agent.getByRole('button', {name: 'Turn it on'}).click();
    await agent.getByText('Two-factor sign-in is on.').waitFor();
    codes = await agent.locator('.recovery-codes code').allTextContents();
    await agent.getByRole('button', {name: 'I have saved them'}).click();
    await agent.getByRole('link', {name: 'Back to the queue'}).click();
    await agent.getByRole('heading', {level: 1, name: 'Queue'}).waitFor();

    await agent.getByRole('button', {name: 'Sign out'}).click();
    await agent.goto(`${base}/staff/strict/`);
    await agent.getByLabel('E-mail address').fill('agent@demo.test');
    await agent.getByLabel('Password').fill(staffPassword);
    await agent.getByRole('button', {name: 'Sign in'}).click();
    await agent.getByLabel('Code from your authenticator app').fill(totpCode(secret, 1));
    await agent.getByRole('button', {name: 'Sign in'}).click();
    await agent.getByRole('heading', {level: 1, name: 'Queue'}).waitFor();
    assert.deepEqual(agent.errors, []);
  } finally {
    // Off again: the other tests sign the agent in with the password alone.
    if (codes.length) {
      const login = await fetch(`${base}/api/v1/staff/auth/login`, {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: 'agent@demo.test', password: staffPassword, totp: codes[0]})});
      const {token} = await login.json();
      const off = await fetch(`${base}/api/v1/staff/me/totp/disable`, {method: 'POST',
        headers: {'Content-Type': 'application/json', Authorization: `Bearer ${token}`}, body: JSON.stringify({code: codes[1]})});
      assert.equal(off.status, 204);
    }
  }
});
