// Portico's portal pages: the customer portal (/p/{project}/...), the invite landing page
// (/invite/{token}) and the staff console (/staff/...). One module, no build step, no library:
// it reads the path, calls the JSON API of ../../../../shared/API.md with the session cookie, and
// builds the page with DOM calls. Text from people is only ever set as text (textContent, value),
// never parsed as HTML.

const main = document.getElementById('main');
const top = document.getElementById('top');

// ---- DOM ----

// h('a', {href: '/x', class: 'y'}, 'text', child...): an element; strings become text nodes.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Each navigation has a number; a page still loading when another navigation starts must not
// draw over it (live() says whether the navigation a page began under is still the current one).
let navigation = 0;
let siteName = 'Support';  // the project's name (applyTheme), or the staff console's
function liveness() {
  const mine = navigation;
  return () => mine === navigation;
}

function show(...children) {
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  main.focus({preventScroll: true});
  // The tab's title names the page, then the site.
  const heading = main.querySelector('h1');
  document.title = heading ? `${heading.textContent} — ${siteName}` : siteName;
}

function when(time) {
  if (!time) return '';
  const d = new Date(time);
  return d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short'});
}

const STATUS_WORDS = {
  open: 'Open', in_progress: 'In progress', awaiting_customer: 'Waiting for you',
  required_test: 'Waiting for your test', required_action: 'Waiting for your action',
  resolved: 'Resolved', pending_closure: 'Closing requested', closure_scheduled: 'Closing soon',
  closed: 'Closed',
};
const STAFF_STATUS_WORDS = {...STATUS_WORDS, awaiting_customer: 'Awaiting customer',
  required_test: 'Customer to test', required_action: 'Customer to act'};
const ACTIVE = ['open', 'in_progress', 'awaiting_customer', 'required_test', 'required_action'];

function statusBadge(status, staff) {
  return h('span', {class: `status status-${status}`}, (staff ? STAFF_STATUS_WORDS : STATUS_WORDS)[status] || status);
}

// ---- The API ----

class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    Object.assign(this, {status, code, field, retryAfter});
  }
}

// What each error means to a person (the API's codes never reach the page as they are).
function words(e) {
  if (!(e instanceof ApiError)) return 'The server could not be reached. Check your connection and try again.';
  switch (e.code) {
    case 'network': return 'The server could not be reached. Check your connection and try again.';
    case 'totp_required': return 'Enter the code from your authenticator app.';
    case 'rate_limited': {
      const s = Number(e.retryAfter) || 60;
      return `Too many attempts. Please wait ${s >= 120 ? Math.ceil(s / 60) + ' minutes' : s + ' seconds'} and try again.`;
    }
    case 'invalid_credentials': return 'That e-mail address and password do not match.';
    case 'invalid_token': return 'This link has expired or was already used. Ask for a new one.';
    case 'email_not_verified': return 'Confirm your e-mail address first: follow the link we sent you.';
    case 'domain_not_allowed': return 'This support desk only admits addresses of its own organisation.';
    case 'unauthenticated': return 'Your session has ended. Please sign in again.';
    case 'csrf': return 'Your session needs to be renewed. Please sign in again.';
    case 'not_found': return 'This page does not exist, or you do not have access to it.';
    case 'not_author': return 'Only the author can change this message.';
    case 'not_creator': return 'Only the person who opened this ticket can do that.';
    case 'ticket_closed': return 'This ticket is closed — you can no longer reply.';
    case 'ticket_not_active': return 'This ticket is resolved or closed, so this is no longer possible.';
    case 'invalid_transition': return 'The ticket cannot change to that state from where it is now.';
    case 'creator_cannot_leave': return 'You opened this ticket, so you cannot leave it.';
    case 'no_survey_pending': return 'There is no survey to answer for this ticket.';
    case 'invite_inactive': return 'This invitation is no longer valid.';
    case 'survey_inactive': return 'This survey was already answered or has expired.';
    case 'conflict': return 'Someone changed this at the same time. Please try again.';
    case 'too_large': return 'That is too long to send.';
    case 'unsupported_media_type': return 'The server cannot take this kind of content.';
    case 'headers_too_large': return 'The request was too large for the server. Signing out and in again may help.';
    case 'method_not_allowed': return 'The server does not offer this action here. Reload the page and try again.';
    case 'unavailable': return 'The service is busy or out of space right now; nothing was saved. Please try again shortly.';
    case 'forbidden': return /two-factor/.test(e.message || '') ? e.message : 'You are not allowed to do that here.';
    case 'invalid_request': return e.message || 'Please check what you entered.';
    default: return e.message || 'Something went wrong.';
  }
}

const realmOf = () => (location.pathname.startsWith('/staff') ? 'staff' : 'customer');
const csrfKey = (realm) => `portico.csrf.${realm}`;

// `key`: an Idempotency-Key, so that a retried submission acts once (API.md).
async function api(method, path, body, {realm = realmOf(), key} = {}) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers['Idempotency-Key'] = key;
  if (method !== 'GET') {
    const csrf = localStorage.getItem(csrfKey(realm));
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  let r;
  try {
    r = await fetch(path, {method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch {
    throw new ApiError(0, 'network', 'network');
  }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) {
    const err = (data && data.error) || {};
    // The cookie and its CSRF token no longer belong together (storage cleared, session ended):
    // forget the token, so the next page asks to sign in again, which replaces both.
    if (err.code === 'csrf' || r.status === 401) localStorage.removeItem(csrfKey(realm));
    throw new ApiError(r.status, err.code || 'unknown', err.message || r.statusText, err.field,
      r.headers.get('Retry-After'));
  }
  return data;
}

function signedIn(session, realm) {
  localStorage.setItem(csrfKey(realm), session.csrf);
}

// Where a customer goes after signing in: back to the invitation they came from, if any (only
// such a path is ever taken from storage), else the project's home.
function afterSignIn(base) {
  const back = sessionStorage.getItem('portico.after-sign-in');
  sessionStorage.removeItem('portico.after-sign-in');
  return back && /^\/invite\/[A-Za-z0-9_-]+$/.test(back) ? back : `${base}/`;
}

// ---- Navigation ----

function go(path, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (a.getAttribute('href').startsWith('#')) return;  // the skip link: the browser jumps
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  e.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener('popstate', () => route());

function errorPage(e, title = 'Something went wrong') {
  if (e instanceof ApiError && e.status === 404) {
    return show(h('h1', {}, 'Not found'), h('p', {}, words(e)));
  }
  show(h('h1', {}, title), h('p', {class: 'error', role: 'alert'}, words(e)));
}

function alertBox(e) {
  return h('p', {class: 'error', role: 'alert'}, words(e));
}

// A form whose submit runs `act`; its button is disabled meanwhile and errors show above it.
function form(fields, label, act, {secondary} = {}) {
  const status = h('div', {'aria-live': 'polite'});
  const button = h('button', {type: 'submit'}, label);
  const f = h('form', {novalidate: true}, status, ...fields, h('div', {class: 'actions'}, button, secondary));
  f.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of f.querySelectorAll('.field-error')) el.remove();
    for (const el of f.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    status.replaceChildren();
    button.disabled = true;
    // One key per thing submitted: a retry after a lost answer acts once; a success starts anew.
    f.idempotencyKey = f.idempotencyKey || crypto.randomUUID();
    try {
      await act(f);
      f.idempotencyKey = null;
    } catch (err) {
      const input = err instanceof ApiError && err.field ? f.querySelector(`[name="${CSS.escape(err.field)}"]`) : null;
      if (input) {
        input.id = input.id || `f${++nextId}`;
        input.setAttribute('aria-invalid', 'true');
        const msg = h('span', {class: 'field-error', id: `${input.id}-error`}, err.message);
        const described = (input.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== msg.id);
        input.setAttribute('aria-describedby', [...described, msg.id].join(' '));
        (input.closest('.field') || input.parentElement).append(msg);
        input.focus();
      } else {
        status.replaceChildren(alertBox(err));
      }
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

let nextId = 0;
// A labelled control with an optional hint (announced with it); errors are added below it.
function field(label, input, hint) {
  input.id = input.id || `f${++nextId}`;
  const hintEl = hint ? h('span', {class: 'hint', id: `${input.id}-hint`}, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', {class: 'field'}, h('label', {for: input.id}, label), hintEl, input);
}
const value = (f, name) => f.elements[name].value;

// A password sign-in that may need the authenticator app's code: the code field appears once the
// server says the account has two-factor sign-in on (totp_required), and goes with every try after.
async function withSecondFactor(f, send) {
  const code = f.elements.totp ? value(f, 'totp').trim() : '';
  try {
    return await send(code ? {totp: code} : {});
  } catch (e) {
    if (e instanceof ApiError && e.code === 'totp_required' && !f.elements.totp) {
      const input = h('input', {name: 'totp', autocomplete: 'one-time-code', inputmode: 'numeric', required: true});
      f.querySelector('.actions').before(field('Code from your authenticator app', input,
        'Six digits, or one of your recovery codes.'));
      throw new ApiError(401, 'totp_required', 'Enter the code from your authenticator app.', 'totp');
    }
    throw e;
  }
}

// Two-factor sign-in on the profile page: turn on (scan the QR code, confirm with a code, keep the
// recovery codes shown this once) and turn off (a code or a recovery code).
function twoFactorCard(realm, enabled) {
  const path = realm === 'staff' ? '/api/v1/staff/me/totp' : '/api/v1/me/totp';
  const area = h('div', {'aria-live': 'polite'});
  const codeInput = (label, hint) => field(label, h('input', {name: 'code', autocomplete: 'one-time-code',
    inputmode: 'numeric', required: true}), hint);
  function offView() {
    area.replaceChildren(
      h('p', {}, 'Off. With it on, signing in with your password also asks for a code from an authenticator app on your phone.'),
      form([], 'Turn on two-factor sign-in', async () => enrolView(await api('POST', path, undefined, {realm}))));
  }
  function enrolView(e) {
    area.replaceChildren(
      h('p', {}, 'Scan this QR code with your authenticator app, or type the key into it. Then enter the six digits it shows.'),
      e.qr_code ? h('img', {src: e.qr_code, alt: 'QR code for your authenticator app', class: 'qr', width: 200, height: 200}) : null,
      h('p', {}, 'Key: ', h('code', {class: 'totp-secret'}, e.secret)),
      form([codeInput('Code from the app')], 'Turn it on', async (f) => {
        const r = await api('POST', `${path}/confirm`, {code: value(f, 'code').trim()}, {realm});
        codesView(r.recovery_codes);
      }));
  }
  function codesView(codes) {
    area.replaceChildren(
      h('p', {class: 'success', role: 'status'}, 'Two-factor sign-in is on.'),
      h('p', {}, 'Keep these recovery codes somewhere safe: each one signs you in once if you lose your phone. They are shown only now.'),
      h('ol', {class: 'recovery-codes'}, codes.map((c) => h('li', {}, h('code', {}, c)))),
      h('div', {class: 'actions'}, h('button', {type: 'button', onclick: () => onView()}, 'I have saved them')));
  }
  function onView() {
    area.replaceChildren(
      h('p', {}, 'On: signing in with your password asks for a code from your authenticator app.'),
      form([codeInput('A code from the app, or a recovery code')], 'Turn off two-factor sign-in', async (f) => {
        await api('POST', `${path}/disable`, {code: value(f, 'code').trim()}, {realm});
        offView();
      }));
  }
  if (enabled) onView(); else offView();
  return h('section', {class: 'card', 'aria-labelledby': 'totp-h'}, h('h2', {id: 'totp-h'}, 'Two-factor sign-in'), area);
}

// The identity providers the customer signs in with: remove one (never the last way in: the
// server answers 409), or add one of those the project offers.
function identitiesCard(p) {
  const area = h('div', {'aria-live': 'polite'});
  const nameOf = (id) => ((p.providers || []).find((x) => x.id === id) || {display_name: id}).display_name;
  function view(note) {
    const linked = me.identities || [];
    const offered = (p.providers || []).filter((x) => !linked.some((i) => i.provider === x.id));
    area.replaceChildren(
      note || '',
      linked.length ? h('ul', {class: 'identities'}, linked.map((i) => h('li', {},
        h('strong', {}, nameOf(i.provider)), i.email ? ` · ${i.email}` : '',
        ' ', h('button', {type: 'button', class: 'link', onclick: async () => {
          try {
            await api('DELETE', `/api/v1/me/identities/${encodeURIComponent(i.provider)}`);
            await whoAmI();
            view(h('p', {class: 'success', role: 'status'}, `${nameOf(i.provider)} no longer signs you in.`));
          } catch (e) {
            view(e.code === 'conflict'
              ? h('p', {class: 'error', role: 'alert'}, 'This is your only way to sign in: add another before removing it.')
              : alertBox(e));
          }
        }}, `Remove ${nameOf(i.provider)}`)))) : h('p', {}, 'You sign in by e-mail only.'),
      offered.length ? h('div', {class: 'actions'}, offered.map((x) => h('button', {type: 'button', class: 'secondary',
        onclick: async () => {
          try {
            const r = await api('POST', `/api/v1/me/identities/${encodeURIComponent(x.id)}`);
            location.assign(r.url);
          } catch (e) { view(alertBox(e)); }
        }}, `Add ${x.display_name}`))) : '');
  }
  const error = signInError(new URLSearchParams(location.search).get('sign_in_error'));
  view(error ? h('p', {class: 'error', role: 'alert'}, error) : null);
  return h('section', {class: 'card', 'aria-labelledby': 'identities-h'},
    h('h2', {id: 'identities-h'}, 'Ways to sign in'), area);
}

// The customer's language: automatic (the browser's, else the project's first) or one of the
// project's. Stored with PATCH /api/v1/me.
const LANGUAGE_NAMES = {en: 'English', de: 'Deutsch', fr: 'Français'};
function languageCard(p) {
  const status = h('p', {'aria-live': 'polite'});
  const select = h('select', {name: 'language', onchange: async () => {
    try {
      me = await api('PATCH', '/api/v1/me', {language: select.value || null});
      status.replaceChildren(h('span', {class: 'success'}, 'Saved.'));
    } catch (e) { status.replaceChildren(alertBox(e)); }
  }},
  h('option', {value: ''}, 'Automatic (your browser’s language)'),
  (p.languages || ['en']).map((l) => h('option', {value: l}, LANGUAGE_NAMES[l] || l)));
  select.value = me.language || '';
  return h('section', {class: 'card', 'aria-labelledby': 'language-h'}, h('h2', {id: 'language-h'}, 'Language'),
    field('Language of the portal and your e-mails', select), status);
}

function profilePage(p) {
  show(h('h1', {}, 'Your profile'),
    h('section', {class: 'card', 'aria-labelledby': 'account-h'}, h('h2', {id: 'account-h'}, 'Your account'),
      h('p', {}, me.customer.display_name, me.customer.email ? ` · ${me.customer.email}` : ' · no e-mail address (notifications appear under the bell only)')),
    identitiesCard(p),
    languageCard(p),
    twoFactorCard('customer', me.totp_enabled));
}

// ---- The project's theme ----

function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
// White or near-black text, whichever contrasts more with the colour (WCAG's formula).
function textOn(hex) {
  const l = luminance(hex);
  return (1.05 / (l + 0.05)) >= ((l + 0.05) / (luminance('#1f2328') + 0.05)) ? '#ffffff' : '#1f2328';
}
const contrast = (a, b) => {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
};
// The colour darkened until text in it reads on the page's background (WCAG AA, 4.5:1): links and
// outlined buttons use it, so a light brand colour never makes them hard to read.
function readable(hex, background = '#f6f7f9') {
  let rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const toHex = (c) => `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
  for (let i = 0; i < 40 && contrast(toHex(rgb), background) < 4.6; ++i) rgb = rgb.map((v) => v * 0.93);
  return toHex(rgb);
}
function applyTheme(project) {
  const t = (project && project.theme) || {};
  const root = document.documentElement.style;
  for (const name of ['primary', 'on-primary', 'accent', 'on-accent', 'link', 'focus']) root.removeProperty(`--${name}`);
  for (const [name, colour] of [['primary', t.primary_color], ['accent', t.accent_color]]) {
    if (typeof colour === 'string' && /^#[0-9a-fA-F]{6}$/.test(colour)) {
      root.setProperty(`--${name}`, colour);
      root.setProperty(`--on-${name}`, textOn(colour));
      if (name === 'primary') {
        root.setProperty('--link', readable(colour));
        root.setProperty('--focus', readable(colour));
      }
    }
  }
  siteName = project ? `${project.name} support` : 'Support';
  document.title = siteName;
}

// ---- Customer portal ----

const projects = new Map();
async function project(slug) {
  if (!projects.has(slug)) projects.set(slug, await api('GET', `/api/v1/projects/${encodeURIComponent(slug)}`));
  return projects.get(slug);
}

let me = null;  // the signed-in customer ({customer, projects}), or null
async function whoAmI() {
  try { me = await api('GET', '/api/v1/me', undefined, {realm: 'customer'}); } catch { me = null; }
  // A cookie session from an identity provider's sign-in learns its CSRF token here.
  if (me && me.csrf) localStorage.setItem(csrfKey('customer'), me.csrf);
  return me;
}

// What went wrong at an identity provider (the callback's ?sign_in_error=), for people.
const SIGN_IN_ERRORS = {
  invalid_state: 'That sign-in took too long or was started in another window. Please try again.',
  cancelled: 'The sign-in was cancelled at the provider.',
  provider_error: 'The sign-in provider refused the sign-in. Please try again.',
  provider_unavailable: 'The sign-in provider could not be reached. Please try again in a few minutes.',
  invalid_token: 'The sign-in provider\'s answer could not be trusted, so you were not signed in. Please try again.',
  domain_not_allowed: 'This support desk only admits addresses of its own organisation, and the provider did not confirm one.',
  not_offered: 'This support desk no longer offers that way of signing in.',
  identity_taken: 'That account already signs in to someone else here, so it was not added.',
  already_linked: 'You already have an account of that provider here: remove it first to add another.',
  unavailable: 'Something went wrong on our side; you were not signed in. Please try again shortly.',
};
const signInError = (code) => (code ? SIGN_IN_ERRORS[code] || 'The sign-in did not work. Please try again.' : null);

// "Continue with …" buttons for the project's identity providers; `returnTo`: where to land.
function providerButtons(p, returnTo) {
  return (p.providers || []).map((pr) => {
    const q = new URLSearchParams({project: p.slug});
    if (returnTo) q.set('return_to', returnTo);
    return h('a', {class: 'button provider', href: `/api/v1/auth/oauth/${encodeURIComponent(pr.id)}/start?${q}`,
      onclick: () => sessionStorage.removeItem('portico.after-sign-in')}, `Continue with ${pr.display_name}`);
  });
}

async function customerHeader(p) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const brand = h('a', {class: 'brand', href: `${base}/`},
    p.theme && p.theme.logo_url ? h('img', {src: p.theme.logo_url, alt: ''}) : null, p.name);
  if (!me) return top.replaceChildren(brand);
  const badge = h('span', {class: 'badge', hidden: true});
  const bell = h('a', {class: 'bell', href: `${base}/notifications`, 'aria-label': 'Notifications'}, 'Notifications', badge);
  api('GET', '/api/v1/notifications?unread=1&limit=1').then((n) => {
    if (n.unread > 0) {
      badge.textContent = String(n.unread);
      badge.hidden = false;
      bell.setAttribute('aria-label', `Notifications, ${n.unread} unread`);
    }
  }).catch(() => {});
  const out = h('button', {type: 'button', class: 'link', onclick: async () => {
    try { await api('POST', '/api/v1/auth/logout'); } catch { /* signed out anyway */ }
    localStorage.removeItem(csrfKey('customer'));
    me = null;
    go(`${base}/sign-in`);
  }}, 'Sign out');
  top.replaceChildren(brand, h('nav', {'aria-label': 'Main'},
    h('a', {href: `${base}/tickets/new`}, 'New ticket'),
    h('a', {href: `${base}/tickets`}, 'My tickets'),
    h('a', {href: `${base}/favorites`}, 'Favorites'),
    bell, h('a', {href: `${base}/profile`, 'aria-label': `Your profile (${me.customer.display_name})`},
      me.customer.display_name), out));
}

function signInPage(p, {message} = {}) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const parts = [h('h1', {}, `Sign in to ${p.name}`)];
  if (message) parts.push(h('p', {class: 'notice', role: 'status'}, message));
  const methods = p.sign_in || [];
  if (methods.includes('magic_link')) {
    const sent = h('div', {'aria-live': 'polite'});
    parts.push(h('section', {class: 'card', 'aria-labelledby': 'magic-h'},
      h('h2', {id: 'magic-h'}, 'E-mail me a sign-in link'),
      sent,
      form([field('E-mail address', h('input', {name: 'email', type: 'email', autocomplete: 'email', required: true}))],
        'Send the link', async (f) => {
          await api('POST', '/api/v1/auth/magic-link', {project: p.slug, email: value(f, 'email')});
          sent.replaceChildren(h('p', {class: 'success'}, 'Check your inbox: the link in it signs you in once, and only for a short while.'));
        })));
  }
  if (methods.includes('password')) {
    parts.push(h('section', {class: 'card', 'aria-labelledby': 'password-h'},
      h('h2', {id: 'password-h'}, 'Sign in with your password'),
      form([
        field('E-mail address', h('input', {name: 'email', type: 'email', autocomplete: 'username', required: true})),
        field('Password', h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true})),
      ], 'Sign in', async (f) => {
        const s = await withSecondFactor(f, (extra) => api('POST', '/api/v1/auth/login',
          {project: p.slug, email: value(f, 'email'), password: value(f, 'password'), ...extra}));
        signedIn(s, 'customer');
        go(afterSignIn(base));
      }),
      h('p', {}, h('a', {href: `${base}/register`}, 'Create an account'), ' · ',
        h('a', {href: `${base}/auth/reset`}, 'Forgot your password?'))));
  }
  if ((p.providers || []).length) {
    // Back to the invitation the person came from, if any (afterSignIn's rule).
    const back = sessionStorage.getItem('portico.after-sign-in');
    const returnTo = back && /^\/invite\/[A-Za-z0-9_-]+$/.test(back) ? back : null;
    parts.splice(message ? 2 : 1, 0, h('section', {class: 'card', 'aria-labelledby': 'providers-h'},
      h('h2', {id: 'providers-h'}, 'Sign in with your account'),
      h('div', {class: 'actions providers'}, providerButtons(p, returnTo))));
  }
  if (!methods.length) parts.push(h('p', {class: 'notice'}, 'This support desk has no way to sign in yet.'));
  show(...parts);
}

function registerPage(p) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const done = h('div', {'aria-live': 'polite'});
  show(h('h1', {}, `Create your ${p.name} account`), done, form([
    field('Your name', h('input', {name: 'display_name', autocomplete: 'name', required: true})),
    field('E-mail address', h('input', {name: 'email', type: 'email', autocomplete: 'email', required: true})),
    field('Password', h('input', {name: 'password', type: 'password', autocomplete: 'new-password', required: true}),
      'At least 10 characters; not a common password.'),
  ], 'Create account', async (f) => {
    await api('POST', '/api/v1/auth/register', {project: p.slug, email: value(f, 'email'),
      password: value(f, 'password'), display_name: value(f, 'display_name')});
    done.replaceChildren(h('p', {class: 'success'}, 'Almost there: follow the link we e-mailed you to confirm your address.'));
  }), h('p', {}, h('a', {href: `${base}/sign-in`}, 'I already have an account')));
}

async function landing(p, kind, token) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  if (kind === 'reset') {
    if (!token) {
      const sent = h('div', {'aria-live': 'polite'});
      return show(h('h1', {}, 'Reset your password'), sent, form([
        field('E-mail address', h('input', {name: 'email', type: 'email', autocomplete: 'email', required: true}))],
        'E-mail me a reset link', async (f) => {
          await api('POST', '/api/v1/auth/password-reset', {project: p.slug, email: value(f, 'email')});
          sent.replaceChildren(h('p', {class: 'success'}, 'If an account uses that address, a reset link is on its way.'));
        }));
    }
    return show(h('h1', {}, 'Choose a new password'), form([
      field('New password', h('input', {name: 'password', type: 'password', autocomplete: 'new-password', required: true}),
        'At least 10 characters; not a common password.')],
      'Save the password', async (f) => {
        await api('POST', '/api/v1/auth/password-reset/confirm', {token, password: value(f, 'password')});
        signInPage(p, {message: 'Your password is saved, and every other session is signed out. Sign in with it now.'});
        history.replaceState(null, '', `${base}/sign-in`);
      }));
  }
  // The link is not used on opening: someone may have sent it to sign us in as them (login
  // CSRF). The page says as whom it signs in, and a button does it.
  show(h('p', {class: 'loading', role: 'status'}, 'Checking the link…'));
  const live = liveness();
  const broken = (e) => show(h('h1', {}, 'This link does not work'), alertBox(e),
    h('p', {}, h('a', {href: `${base}/sign-in`}, 'Sign in again')));
  let info;
  try {
    info = await api('POST', '/api/v1/auth/link', {token}, {realm: 'customer'});
  } catch (e) {
    if (live()) broken(e);
    return;
  }
  await whoAmI();
  if (!live()) return;
  const verify = kind === 'verify';
  const parts = [
    h('h1', {}, verify ? `Confirm your address for ${p.name}` : `Sign in to ${p.name}`),
    h('p', {}, verify ? 'This link confirms the address ' : 'This link signs you in as ',
      h('strong', {}, info.email), '.'),
    h('p', {}, 'Continue only if you asked for it yourself. If someone sent you this link, close this page.'),
  ];
  if (me && me.customer.email !== info.email) {
    parts.push(h('p', {class: 'notice', role: 'status'},
      `You are signed in as ${me.customer.email}: continuing signs you in as ${info.email} instead.`));
  }
  parts.push(form([], verify ? `Confirm and sign in as ${info.email}` : `Sign in as ${info.email}`, async () => {
    const path = verify ? '/api/v1/auth/verify-email' : '/api/v1/auth/magic-link/verify';
    const s = await api('POST', path, {token}, {realm: 'customer'});
    signedIn(s, 'customer');
    if (!live()) return;
    go(afterSignIn(base), {replace: true});
  }));
  show(...parts);
}

function summaryItem(base, s) {
  return h('li', {}, h('a', {href: `${base}/tickets/${s.number}`},
    h('span', {class: 'subject'}, `#${s.number} `, s.subject, s.favorite ? ' ★' : ''),
    statusBadge(s.status),
    h('span', {class: 'meta'}, `Updated ${when(s.updated_at)}`,
      s.role && s.role !== 'creator' ? ` · ${s.role === 'participant' ? 'you were invited' : 'your organisation'}` : '')));
}

async function homePage(p) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const live = liveness();
  const o = await api('GET', `${base.replace('/p/', '/api/v1/projects/')}/tickets/overview`);
  if (!live()) return;
  const counts = Object.entries(o.by_status || {}).filter(([, n]) => n > 0);
  show(
    h('h1', {}, `Hello, ${me.customer.display_name}`),
    h('div', {class: 'actions'},
      h('a', {class: 'button', href: `${base}/tickets/new`}, 'New ticket'),
      h('a', {class: 'button secondary', href: `${base}/tickets`}, 'My tickets'),
      h('a', {class: 'button secondary', href: `${base}/favorites`}, 'Favorites')),
    h('section', {'aria-labelledby': 'stats-h'}, h('h2', {id: 'stats-h'}, 'Your tickets'),
      h('div', {class: 'stats'},
        h('div', {class: 'stat'}, h('strong', {}, String(o.active)), 'active'),
        counts.map(([st, n]) => h('a', {class: 'stat', href: `${base}/tickets?status=${st}`}, h('strong', {}, String(n)), STATUS_WORDS[st] || st)))),
    h('section', {'aria-labelledby': 'recent-h'}, h('h2', {id: 'recent-h'}, 'Recent'),
      o.recent && o.recent.length ? h('ul', {class: 'tickets'}, o.recent.map((s) => summaryItem(base, s)))
        : h('p', {class: 'muted'}, 'No tickets yet. Open one when you need help.')),
    h('p', {}, h('button', {type: 'button', class: 'link', onclick: () => leaveProject(p)}, `Leave ${p.name}`)));
}

async function leaveProject(p) {
  if (!confirm(`Leave ${p.name}? Its tickets disappear from your lists until you sign in here again.`)) return;
  try {
    await api('DELETE', `/api/v1/projects/${encodeURIComponent(p.slug)}/membership`);
    go(`/p/${encodeURIComponent(p.slug)}/sign-in`);
  } catch (e) { alert(words(e)); }
}

async function listPage(p, kind) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const apiBase = `/api/v1/projects/${encodeURIComponent(p.slug)}`;
  const params = new URLSearchParams(location.search);
  const list = h('ul', {class: 'tickets'});
  const more = h('button', {type: 'button', class: 'secondary', hidden: true}, 'Load more');
  const note = h('div', {'aria-live': 'polite'});
  let cursor = null;
  async function load() {
    const q = new URLSearchParams();
    if (kind === 'tickets') {
      for (const k of ['scope', 'status', 'q']) if (params.get(k)) q.set(k, params.get(k));
    }
    if (cursor) q.set('cursor', cursor);
    more.disabled = true;
    try {
      const page = await api('GET', `${apiBase}/${kind === 'favorites' ? 'favorites' : 'tickets'}?${q}`);
      list.append(...page.items.map((s) => summaryItem(base, s)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!list.children.length) {
        note.replaceChildren(h('p', {class: 'muted'}, kind === 'favorites' ? 'No favorites yet: mark a ticket with ★ to keep it here.' : (cursor ? 'Nothing here yet — load more to keep looking.' : 'No tickets match.')));
      } else note.replaceChildren();
    } catch (e) { note.replaceChildren(alertBox(e)); }
    more.disabled = false;
  }
  more.addEventListener('click', load);
  const parts = [h('h1', {}, kind === 'favorites' ? 'Favorites' : 'Tickets')];
  if (kind === 'tickets') {
    const scope = h('select', {name: 'scope'},
      [['', 'All I can see'], ['mine', 'Opened by me'], ['participating', 'Invited to'], ['organization', 'My organisation']]
        .map(([v, t]) => h('option', {value: v, selected: params.get('scope') === v || (!params.get('scope') && !v)}, t)));
    const status = h('select', {name: 'status'}, h('option', {value: ''}, 'Any status'),
      h('option', {value: ACTIVE.join(','), selected: params.get('status') === ACTIVE.join(',')}, 'Active'),
      Object.entries(STATUS_WORDS).map(([v, t]) => h('option', {value: v, selected: params.get('status') === v}, t)));
    const search = h('input', {name: 'q', type: 'search', value: params.get('q') || ''});
    const filters = h('form', {class: 'filters', role: 'search'},
      field('Show', scope), field('Status', status), field('Search', search),
      h('button', {type: 'submit', class: 'secondary'}, 'Apply'));
    filters.addEventListener('submit', (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(filters)) if (v) q.set(k, v);
      go(`${base}/tickets${q.toString() ? '?' + q : ''}`);
    });
    parts.push(filters);
  }
  show(...parts, note, list, h('div', {class: 'actions'}, more));
  await load();
}

function newTicketPage(p) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  // The customer's priority, where the project lets them choose one (--customer-priority on).
  const choosePriority = Boolean(p.policies && p.policies.customer_priority);
  show(h('h1', {}, 'New ticket'), form([
    field('Subject', h('input', {name: 'subject', maxlength: 200, required: true}), 'A short summary, up to 200 characters.'),
    field('What happened?', h('textarea', {name: 'message', required: true, maxlength: 10000}),
      'Steps, what you expected, what you saw. Mention someone with @handle.'),
    choosePriority ? field('Priority', h('select', {name: 'priority'},
      [['low', 'Low'], ['normal', 'Normal'], ['high', 'High'], ['urgent', 'Urgent']].map(([v, label]) =>
        h('option', {value: v, selected: v === 'normal'}, label))),
    'How much it holds you up.') : null,
  ].filter(Boolean), 'Open the ticket', async (f) => {
    const subject = value(f, 'subject').trim();
    const message = value(f, 'message').trim();
    if (!subject) throw new ApiError(400, 'invalid_request', 'Write a subject.', 'subject');
    if (!message) throw new ApiError(400, 'invalid_request', 'Describe the problem.', 'message');
    const body = {subject, message};
    if (choosePriority) body.priority = value(f, 'priority');
    const t = await api('POST', `/api/v1/projects/${encodeURIComponent(p.slug)}/tickets`, body, {key: f.idempotencyKey});
    go(`${base}/tickets/${t.number}`);
  }));
}

const EMOJI = ['👍', '🎉', '❤️', '😕'];
const drafts = new Map();  // ticket API path -> the reply being typed

function messageItem(m, {mine, editable, onReact, onEdit, onDelete, staffView}) {
  const cls = ['message', m.author.realm === 'staff' ? 'staff' : '', m.internal ? 'internal' : ''].filter(Boolean).join(' ');
  const head = h('div', {}, h('span', {class: 'who'}, m.author.display_name || (m.author.realm === 'system' ? 'Support' : 'Someone')),
    m.author.realm === 'staff' && !staffView ? h('span', {class: 'tag'}, 'Staff') : null,
    m.internal ? h('span', {class: 'tag'}, 'Internal note — customers never see this') : null,
    ' ', h('span', {class: 'when'}, when(m.created_at), m.edited_at ? ' (edited)' : ''));
  const body = m.deleted ? h('p', {class: 'deleted'}, 'This message was deleted.') : h('div', {class: 'body'}, m.body);
  const item = h('li', {class: cls, id: `m-${m.id}`}, head, body);
  if (staffView && m.history && m.history.length) {  // staff see what an edited message said before
    item.append(h('details', {}, h('summary', {}, `Earlier versions (${m.history.length})`),
      h('ol', {class: 'history'}, m.history.map((old) => h('li', {}, h('div', {class: 'body'}, old))))));
  }
  if (!m.deleted && onReact) {
    const reactions = h('div', {class: 'reactions', role: 'group', 'aria-label': 'Reactions'});
    for (const e of EMOJI) {
      const r = (m.reactions || {})[e] || {count: 0, mine: false};
      reactions.append(h('button', {type: 'button', 'aria-pressed': r.mine ? 'true' : 'false',
        'aria-label': `${e} ${r.count}${r.mine ? ', yours' : ''}`, onclick: () => onReact(m, e, r.mine)},
        `${e} ${r.count || ''}`.trim()));
    }
    item.append(reactions);
  }
  if (editable && mine && !m.deleted) {
    item.append(h('div', {class: 'actions'},
      h('button', {type: 'button', class: 'secondary', onclick: () => onEdit(m, item)}, 'Edit'),
      h('button', {type: 'button', class: 'danger', onclick: () => onDelete(m)}, 'Delete')));
  }
  return item;
}

// The controls of a message: reacting (PUT/DELETE …/reactions/{emoji}), and editing and deleting
// one's own (PATCH/DELETE …/messages/{id}), the same for customers and staff under their own paths.
const reactWith = (act) => (msg, e, mine) =>
  act(mine ? 'DELETE' : 'PUT', `/messages/${encodeURIComponent(msg.id)}/reactions/${encodeURIComponent(e)}`);
function ownMessageActions(path, act, reload) {
  return {
    onEdit: (msg, item) => {
      const box = h('textarea', {name: 'body', value: msg.body});
      item.replaceChildren(form([field('Edit your message', box)], 'Save', async () => {
        await api('PATCH', `${path}/messages/${encodeURIComponent(msg.id)}`, {body: box.value});
        await reload();
      }, {secondary: h('button', {type: 'button', class: 'secondary', onclick: reload}, 'Cancel')}));
      box.focus();
    },
    onDelete: (msg) => { if (confirm('Delete this message? It stays in the thread as deleted.')) act('DELETE', `/messages/${encodeURIComponent(msg.id)}`); },
  };
}

async function ticketPage(p, n) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const path = `/api/v1/projects/${encodeURIComponent(p.slug)}/tickets/${n}`;
  const live = liveness();
  let t;
  try { t = await api('GET', path); } catch (e) { return live() && errorPage(e); }
  if (!live()) return;
  // The creator sees the invite links that still work, so that a removal can be made to stick.
  let invites = [];
  if (t.role === 'creator') {
    try { invites = (await api('GET', `${path}/invites`)).items; } catch { invites = []; }
    if (!live()) return;
  }
  const reload = async () => { if (live()) await ticketPage(p, n); };
  const act = async (method, sub, body) => {
    try { await api(method, `${path}${sub}`, body); await reload(); } catch (e) { flash(e); }
  };
  const flashBox = h('div', {'aria-live': 'assertive'});
  const flash = (e) => flashBox.replaceChildren(alertBox(e));
  const closed = t.status === 'closed';
  const active = ACTIVE.includes(t.status);
  const isCreator = t.role === 'creator';
  const policies = p.policies || {};
  const repliesReopen = policies.closed_tickets === 'reply_reopens';
  const parts = [
    h('h1', {}, `#${t.number} `, t.subject),
    h('div', {class: 'actions'}, statusBadge(t.status),
      h('span', {class: 'muted'}, `Opened by ${t.creator.display_name} · ${when(t.created_at)}`),
      // A resolved or closed ticket can only be taken off the favorites.
      t.favorite || active ? h('button', {type: 'button', class: 'secondary', 'aria-pressed': t.favorite ? 'true' : 'false',
        onclick: () => act(t.favorite ? 'DELETE' : 'PUT', '/favorite')}, t.favorite ? '★ Favorite' : '☆ Mark as favorite') : null),
    flashBox,
  ];
  if (t.closure && t.closure.closes_at) {
    parts.push(h('p', {class: 'notice'}, `This ticket closes on ${when(t.closure.closes_at)}` +
      (policies.customer_reply === 'reopen' ? ' unless you reply.' : '.')));
  }
  if (t.survey_pending && isCreator) parts.push(surveyCard(path, reload, policies.survey_options));
  parts.push(h('ol', {class: 'thread', 'aria-label': 'Messages'}, t.messages.map((m) => messageItem(m, {
    mine: m.author.realm === 'customer' && me && m.author.id === me.customer.id,
    editable: !closed,
    onReact: closed ? null : reactWith(act),
    ...ownMessageActions(path, act, reload),
  }))));
  if (closed && !repliesReopen) {
    parts.push(h('p', {class: 'notice'}, 'This ticket is closed — you can no longer reply. Open a new ticket if you need more help.'));
  } else {
    // What is typed survives the page being rebuilt after a reaction, a favorite and the like.
    const box = h('textarea', {name: 'body', required: true, maxlength: 10000, value: drafts.get(path) || '',
      oninput: () => drafts.set(path, box.value)});
    parts.push(h('section', {class: 'card', 'aria-labelledby': 'reply-h'}, h('h2', {id: 'reply-h'}, 'Reply'),
      closed ? h('p', {class: 'muted'}, 'This ticket is closed; replying reopens it.') : null,
      form([field('Your message', box)], closed ? 'Reply and reopen' : 'Send', async (f) => {
        if (!box.value.trim()) throw new ApiError(400, 'invalid_request', 'Write a message first.', 'body');
        await api('POST', `${path}/messages`, {body: box.value}, {key: f.idempotencyKey});
        drafts.delete(path);
        await reload();
      })));
  }
  // Participants and invites.
  const everyone = [t.creator, ...t.participants.filter((x) => x.id !== t.creator.id)];
  const people = h('ul', {class: 'people'}, everyone.map((person) => h('li', {}, person.display_name,
    person.id === t.creator.id ? h('span', {class: 'muted'}, '(opened it)') : null,
    isCreator && person.id !== t.creator.id ? h('button', {type: 'button', class: 'danger',
      onclick: () => { if (confirm(`Remove ${person.display_name} from this ticket?`)) act('DELETE', `/participants/${encodeURIComponent(person.id)}`); }}, 'Remove') : null)));
  const invite = h('div', {});
  const side = [h('h2', {id: 'people-h'}, 'People'), people];
  if (isCreator && invites.length) {
    side.push(h('h3', {id: 'invites-h'}, 'Invitation links that work'),
      h('ul', {class: 'people invites', 'aria-labelledby': 'invites-h'}, invites.map((i) => h('li', {},
        `Made by ${i.created_by.display_name} · ${when(i.created_at)}`,
        h('button', {type: 'button', class: 'danger',
          'aria-label': `Revoke the link ${i.created_by.display_name} made ${when(i.created_at)}`,
          onclick: () => { if (confirm('Revoke this link? Nobody can join through it any more.')) act('DELETE', `/invites/${encodeURIComponent(i.id)}`); }},
        'Revoke')))));
  }
  if (active) {
    side.push(h('div', {class: 'actions'}, h('button', {type: 'button', class: 'secondary', onclick: async () => {
      try {
        const i = await api('POST', `${path}/invites`);
        const url = h('input', {readonly: true, value: i.url, 'aria-label': 'Invitation link'});
        const copy = h('button', {type: 'button', onclick: async () => {
          try { await navigator.clipboard.writeText(i.url); copy.textContent = 'Copied'; } catch { url.select(); }
        }}, 'Copy');
        const revoke = h('button', {type: 'button', class: 'danger', onclick: async () => {
          try {
            await api('DELETE', `${path}/invites/${encodeURIComponent(i.id)}`);
            invite.replaceChildren(h('p', {class: 'success', role: 'status'}, 'The link no longer works.'));
          } catch (e) { flash(e); }
        }}, 'Revoke');
        invite.replaceChildren(h('p', {}, 'Anyone with this link can join the ticket after signing in:'),
          h('div', {class: 'copy'}, url, copy, isCreator ? revoke : null));
      } catch (e) { flash(e); }
    }}, 'Invite someone')), invite);
  }
  if (!isCreator && t.role === 'participant') {
    side.push(h('div', {class: 'actions'}, h('button', {type: 'button', class: 'danger', onclick: async () => {
      if (!confirm('Leave this ticket? You will no longer see it.')) return;
      try { await api('POST', `${path}/leave`); go(`${base}/tickets`); } catch (e) { flash(e); }
    }}, 'Leave this ticket')));
  }
  parts.push(h('section', {class: 'card', 'aria-labelledby': 'people-h'}, ...side));
  // Closing.
  const closing = [];
  if ((isCreator || t.role === 'participant') &&
      ['open', 'in_progress', 'awaiting_customer', 'required_test', 'required_action', 'resolved'].includes(t.status)) {
    closing.push(h('button', {type: 'button', class: 'secondary', onclick: () => act('POST', '/closure-request')}, 'Request closure'));
  }
  if (['resolved', 'pending_closure', 'closure_scheduled'].includes(t.status)) {
    closing.push(h('button', {type: 'button', class: 'secondary', onclick: () => act('POST', '/close')}, 'Close now'));
  }
  if (closing.length) parts.push(h('div', {class: 'actions'}, ...closing));
  show(...parts);
}

// The survey's form: a rating, one of the project's survey options if it has any, and a comment;
// send(body, form) records it. The ticket page's card and the e-mailed link's page both use it.
function surveyForm(options, send) {
  const choices = h('fieldset', {class: 'rating'}, h('legend', {}, 'How did we do? (1 = poor, 5 = excellent)'),
    [1, 2, 3, 4, 5].map((r) => h('label', {}, h('input', {type: 'radio', name: 'rating', value: r, required: true}), String(r))));
  const option = options && options.length
    ? h('select', {name: 'option'}, h('option', {value: ''}, 'Choose one (optional)'), options.map((o) => h('option', {value: o}, o)))
    : null;
  const comment = h('textarea', {name: 'comment', maxlength: 2000});
  return form([choices, option ? field('In a word', option) : null, field('Anything to add? (optional)', comment)].filter(Boolean),
    'Send the rating', async (f) => {
      const rating = Number(new FormData(f).get('rating'));
      if (!rating) throw new ApiError(400, 'invalid_request', 'Choose a rating from 1 to 5.', 'rating');
      const body = {rating};
      if (option && option.value) body.option = option.value;
      if (comment.value.trim()) body.comment = comment.value.trim();
      await send(body, f);
    });
}

// The survey on the ticket's page (POST …/survey), offering the project's survey options.
function surveyCard(path, reload, options) {
  return h('section', {class: 'card', 'aria-labelledby': 'survey-h'}, h('h2', {id: 'survey-h'}, 'Rate the help you got'),
    surveyForm(options, async (body) => {
      await api('POST', `${path}/survey`, body);
      await reload();
    }));
}

// The survey a feedback e-mail links to, answered without signing in (GET/POST /api/v1/surveys/{token}).
async function surveyLinkPage(token) {
  const live = liveness();
  const path = `/api/v1/surveys/${encodeURIComponent(token)}`;
  let s;
  try { s = await api('GET', path, undefined, {realm: 'customer'}); } catch (e) { return live() && errorPage(e, 'This survey is closed'); }
  if (!live()) return;
  show(h('h1', {}, `Rate the help you got from ${s.project.name}`), h('p', {}, 'About “', s.ticket.subject, '”.'),
    surveyForm(s.options, async (body, f) => {
      await api('POST', path, body, {realm: 'customer', key: f.idempotencyKey});
      show(h('h1', {}, 'Thank you'), h('p', {class: 'success'}, 'Your rating is recorded. It helps us do better.'));
    }));
}

async function notificationsPage(p) {
  const base = `/p/${encodeURIComponent(p.slug)}`;
  const list = h('ul', {class: 'notifications'});
  const more = h('button', {type: 'button', class: 'secondary', hidden: true}, 'Load more');
  let cursor = null;
  const KIND = {mention: 'mentioned you', staff_reply: 'Support replied', survey: 'Rate the help you got'};
  async function load() {
    more.disabled = true;
    const page = await api('GET', `/api/v1/notifications${cursor ? '?cursor=' + encodeURIComponent(cursor) : ''}`)
      .finally(() => { more.disabled = false; });
    for (const n of page.items) {
      const link = `/p/${encodeURIComponent(n.project)}/tickets/${n.ticket}`;
      const li = h('li', {class: n.read ? '' : 'unread'},
        h('a', {href: link, onclick: async (e) => {
          if (n.read) return;  // the global handler follows the link
          e.preventDefault();
          e.stopPropagation();
          try { await api('POST', `/api/v1/notifications/${n.id}/read`); } catch { /* the link matters more */ }
          go(link);
        }},
          `${KIND[n.kind] || n.kind} · #${n.ticket}${n.subject ? ' ' + n.subject : ''}`),
        h('span', {class: 'muted'}, n.preview || ''), h('span', {class: 'muted'}, `${n.project} · ${when(n.created_at)}`),
        n.read ? null : h('div', {}, h('button', {type: 'button', class: 'link', onclick: async () => {
          try {
            await api('POST', `/api/v1/notifications/${n.id}/read`);
            n.read = true;
            li.className = '';
            li.lastChild.remove();
            await customerHeader(p);  // the bell's count
          } catch (e) { alert(words(e)); }
        }}, 'Mark read')));
      list.append(li);
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!list.children.length) list.append(h('li', {}, 'Nothing new.'));
  }
  more.addEventListener('click', () => load().catch((e) => alert(words(e))));
  show(h('h1', {}, 'Notifications'), h('div', {class: 'actions'},
    h('button', {type: 'button', class: 'secondary', onclick: async () => {
      try { await api('POST', '/api/v1/notifications/read-all'); await notificationsPage(p); await customerHeader(p); } catch (e) { alert(words(e)); }
    }}, 'Mark all read')), list, h('div', {class: 'actions'}, more),
    h('p', {}, h('a', {href: `${base}/`}, 'Back')));
  await load();
}

async function invitePage(token) {
  top.replaceChildren(h('span', {class: 'brand'}, 'Support'));
  const live = liveness();
  let info;
  try { info = await api('GET', `/api/v1/invites/${encodeURIComponent(token)}`, undefined, {realm: 'customer'}); } catch (e) { return live() && errorPage(e, 'This invitation does not work'); }
  const p = await project(info.project.slug);
  await whoAmI();
  if (!live()) return;
  applyTheme(p);
  const base = `/p/${encodeURIComponent(p.slug)}`;
  await customerHeader(p);
  const join = async () => {
    try {
      const r = await api('POST', `/api/v1/invites/${encodeURIComponent(token)}/join`, undefined, {realm: 'customer'});
      go(`${base}/tickets/${r.ticket.number}`, {replace: true});
    } catch (e) { show(h('h1', {}, 'You could not join'), alertBox(e)); }
  };
  show(h('h1', {}, `Join a ticket at ${info.project.name}`),
    h('p', {}, `${info.invited_by.display_name} invited you to “`, info.ticket.subject, '”.'),
    me ? h('button', {type: 'button', onclick: join}, 'Join the ticket')
      : h('div', {}, h('p', {}, 'Sign in first; you will come back here to join.'),
        h('div', {class: 'actions providers'},
          providerButtons(p, location.pathname),
          h('a', {class: 'button', href: `${base}/sign-in`, onclick: () => sessionStorage.setItem('portico.after-sign-in', location.pathname)},
            (p.providers || []).length ? 'Other ways to sign in' : 'Sign in to join'))));
}

async function customerRoute(slug, rest) {
  const live = liveness();
  let p;
  try { p = await project(slug); } catch (e) { if (live()) { top.replaceChildren(); errorPage(e, 'No such support desk'); } return; }
  if (!live()) return;
  applyTheme(p);
  const params = new URLSearchParams(location.search);
  const [first, second] = rest;
  if (first === 'auth' && ['magic', 'verify', 'reset'].includes(second)) {
    top.replaceChildren(h('span', {class: 'brand'}, p.name));
    return landing(p, second, params.get('token'));
  }
  if (first === 'survey') {  // the link in a feedback e-mail: no sign-in needed
    top.replaceChildren(h('span', {class: 'brand'}, p.name));
    return surveyLinkPage(params.get('token') || '');
  }
  await whoAmI();
  if (!live()) return;
  // Signed in here only with a session, membership and the session's CSRF token.
  const member = me && me.projects && me.projects.some((x) => x.slug === slug) &&
    Boolean(localStorage.getItem(csrfKey('customer')));
  await customerHeader(p);
  if (first === 'register') return registerPage(p);
  if (!me || !member || first === 'sign-in') {
    if (me && member && first === 'sign-in') return go(`/p/${encodeURIComponent(slug)}/`, {replace: true});
    const failed = signInError(params.get('sign_in_error'));
    if (failed) return signInPage(p, {message: failed});
    return signInPage(p, me && !member ? {message: `Sign in again to use ${p.name}.`} : {});
  }
  try {
    if (!first) return await homePage(p);
    if (first === 'tickets' && !second) return await listPage(p, 'tickets');
    if (first === 'tickets' && second === 'new') return newTicketPage(p);
    if (first === 'tickets' && /^[1-9][0-9]*$/.test(second || '')) return await ticketPage(p, second);
    if (first === 'favorites') return await listPage(p, 'favorites');
    if (first === 'notifications') return await notificationsPage(p);
    if (first === 'profile' && !second) return profilePage(p);
  } catch (e) { return errorPage(e); }
  errorPage(new ApiError(404, 'not_found', ''));
}

// ---- Staff console ----

async function staffRoute(rest) {
  siteName = 'Staff console';
  document.title = siteName;
  const signOut = h('button', {type: 'button', class: 'link', onclick: async () => {
    try { await api('POST', '/api/v1/staff/auth/logout'); } catch { /* ended anyway */ }
    localStorage.removeItem(csrfKey('staff'));
    go('/staff/');
  }}, 'Sign out');
  const [slug, second, third] = rest;
  const signedInStaff = Boolean(localStorage.getItem(csrfKey('staff')));
  if (!signedInStaff || !slug) {
    // The project the URL names is the one signed in to: its name in the header, not asked again.
    let named = null;
    if (slug) {
      const live = liveness();
      try { named = await project(slug); } catch (e) { return live() && errorPage(e, 'No such project'); }
      if (!live()) return;
      applyTheme(named);
      siteName = `${named.name} — staff console`;
    }
    top.replaceChildren(...[h('span', {class: 'brand'}, named ? `${named.name} · staff` : 'Staff console'),
      signedInStaff ? signOut : null].filter(Boolean));
    return staffSignIn(signedInStaff, named);
  }
  const live = liveness();
  let p;
  try { p = await project(slug); } catch (e) { return live() && errorPage(e, 'No such project'); }
  if (!live()) return;
  applyTheme(p);
  siteName = `${p.name} — staff console`;
  top.replaceChildren(h('a', {class: 'brand', href: `/staff/${encodeURIComponent(slug)}/`}, `${p.name} · staff`),
    h('nav', {'aria-label': 'Main'}, h('a', {href: `/p/${encodeURIComponent(slug)}/`}, 'Customer portal'),
      h('a', {href: `/staff/${encodeURIComponent(slug)}/account`}, 'Your account'), signOut));
  try {
    if (!second) return await queuePage(p);
    if (second === 'tickets' && /^[1-9][0-9]*$/.test(third || '')) return await staffTicketPage(p, third);
    if (second === 'account' && !third) return await staffAccountPage(p);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      localStorage.removeItem(csrfKey('staff'));
      return go('/staff/', {replace: true});
    }
    // The project requires two-factor sign-in the member has not turned on: say so, and where.
    if (e instanceof ApiError && e.code === 'forbidden' && /two-factor/.test(e.message || '')) {
      return show(h('h1', {}, 'Two-factor sign-in needed'), alertBox(e),
        h('p', {}, h('a', {class: 'button', href: `/staff/${encodeURIComponent(slug)}/account`}, 'Turn on two-factor sign-in')));
    }
    return errorPage(e);
  }
  errorPage(new ApiError(404, 'not_found', ''));
}

async function staffAccountPage(p) {
  const who = await api('GET', '/api/v1/staff/me', undefined, {realm: 'staff'});
  show(h('h1', {}, 'Your account'),
    h('section', {class: 'card', 'aria-labelledby': 'account-h'}, h('h2', {id: 'account-h'}, 'Signed in as'),
      h('p', {}, who.staff.display_name, ' · ', who.staff.email)),
    twoFactorCard('staff', who.totp_enabled),
    h('p', {}, h('a', {href: `/staff/${encodeURIComponent(p.slug)}/`}, 'Back to the queue')));
}

// The staff sign-in form; at /staff/{slug}/ (named) it signs in to that project and does not ask.
function staffSignIn(already, named) {
  const last = localStorage.getItem('portico.staff.project') || '';
  const projectField = h('input', {name: 'project', required: true, value: last, autocomplete: 'off'});
  if (already) {
    return show(h('h1', {}, 'Open a project'), form([field('Project', projectField, 'Its short name, as in /p/acme/.')],
      'Open the queue', async (f) => {
        const slug = value(f, 'project').trim();
        await project(slug);
        localStorage.setItem('portico.staff.project', slug);
        go(`/staff/${encodeURIComponent(slug)}/`);
      }));
  }
  show(h('h1', {}, named ? `Staff sign-in — ${named.name}` : 'Staff sign-in'), form([
    field('E-mail address', h('input', {name: 'email', type: 'email', autocomplete: 'username', required: true})),
    field('Password', h('input', {name: 'password', type: 'password', autocomplete: 'current-password', required: true})),
    named ? null : field('Project', projectField, 'Its short name, as in /p/acme/.'),
  ].filter(Boolean), 'Sign in', async (f) => {
    const slug = named ? named.slug : value(f, 'project').trim();
    if (!named) {
      try { await project(slug); } catch { throw new ApiError(400, 'invalid_request', 'There is no project by that name.', 'project'); }
    }
    const s = await withSecondFactor(f, (extra) => api('POST', '/api/v1/staff/auth/login',
      {email: value(f, 'email'), password: value(f, 'password'), ...extra}, {realm: 'staff'}));
    signedIn(s, 'staff');
    localStorage.setItem('portico.staff.id', s.staff.id);
    localStorage.setItem('portico.staff.project', slug);
    go(`/staff/${encodeURIComponent(slug)}/`);
  }));
}

async function queuePage(p) {
  const slug = encodeURIComponent(p.slug);
  const params = new URLSearchParams(location.search);
  const rows = h('tbody', {});
  const more = h('button', {type: 'button', class: 'secondary', hidden: true}, 'Load more');
  const note = h('div', {'aria-live': 'polite'});
  let cursor = null;
  async function load() {
    const q = new URLSearchParams();
    for (const k of ['status', 'team', 'priority']) if (params.get(k)) q.set(k, params.get(k));
    if (cursor) q.set('cursor', cursor);
    more.disabled = true;
    const page = await api('GET', `/api/v1/staff/projects/${slug}/tickets?${q}`).finally(() => { more.disabled = false; });
    for (const s of page.items) {
      rows.append(h('tr', {}, h('td', {}, h('a', {href: `/staff/${slug}/tickets/${s.number}`}, `#${s.number}`)),
        h('td', {class: 'subject'}, h('a', {href: `/staff/${slug}/tickets/${s.number}`}, s.subject)),
        h('td', {}, statusBadge(s.status, true)), h('td', {class: 'wide'}, s.priority || ''), h('td', {class: 'wide'}, s.team || '—'),
        h('td', {}, s.waiting_on === 'staff' ? 'Us' : 'Customer'), h('td', {class: 'wide'}, when(s.updated_at))));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    note.replaceChildren(rows.children.length ? '' : h('p', {class: 'muted'}, cursor ? 'Nothing on this page — load more.' : 'No tickets match.'));
  }
  more.addEventListener('click', () => load().catch((e) => note.replaceChildren(alertBox(e))));
  const status = h('select', {name: 'status'}, h('option', {value: ''}, 'Any status'),
    h('option', {value: ACTIVE.join(','), selected: params.get('status') === ACTIVE.join(',')}, 'Active'),
    Object.entries(STAFF_STATUS_WORDS).map(([v, t]) => h('option', {value: v, selected: params.get('status') === v}, t)));
  const team = h('input', {name: 'team', value: params.get('team') || ''});
  const priority = h('select', {name: 'priority'}, ['', 'low', 'normal', 'high', 'urgent'].map((v) =>
    h('option', {value: v, selected: (params.get('priority') || '') === v}, v || 'Any priority')));
  const filters = h('form', {class: 'filters', role: 'search'}, field('Status', status), field('Team', team), field('Priority', priority),
    h('button', {type: 'submit', class: 'secondary'}, 'Apply'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v) q.set(k, v);
    go(`/staff/${slug}/${q.toString() ? '?' + q : ''}`);
  });
  show(h('h1', {}, 'Queue'), filters, note, h('div', {class: 'table-wrap'}, h('table', {class: 'queue-table'},
    h('thead', {}, h('tr', {}, ['#', 'Subject', 'Status', 'Priority', 'Team', 'Waiting on', 'Updated'].map((c, i) =>
      h('th', {scope: 'col', class: [3, 4, 6].includes(i) ? 'wide' : null}, c)))), rows)), h('div', {class: 'actions'}, more));
  await load();
}

async function staffTicketPage(p, n) {
  const slug = encodeURIComponent(p.slug);
  const path = `/api/v1/staff/projects/${slug}/tickets/${n}`;
  const live = liveness();
  const t = await api('GET', path);
  if (!live()) return;
  const reload = async () => { if (live()) await staffTicketPage(p, n); };
  const flashBox = h('div', {'aria-live': 'assertive'});
  const run = async (method, sub, body) => {
    try { await api(method, `${path}${sub}`, body); await reload(); } catch (e) { flashBox.replaceChildren(alertBox(e)); }
  };
  const box = h('textarea', {name: 'body', required: true, maxlength: 10000});
  const internal = h('input', {type: 'checkbox', name: 'internal'});
  const withStatus = h('select', {name: 'status'}, h('option', {value: ''}, 'Keep the status'),
    ['in_progress', 'awaiting_customer', 'required_test', 'required_action', 'resolved']
      .map((s) => h('option', {value: s}, `Set: ${STAFF_STATUS_WORDS[s]}`)));
  const settable = ['open', 'in_progress', 'awaiting_customer', 'required_test', 'required_action', 'resolved', 'closed'];
  // A closing state is reached through the customer or a schedule, not chosen here: shown, not offered.
  const statusSelect = h('select', {name: 'status'},
    settable.includes(t.status) ? null : h('option', {value: '', selected: true, disabled: true}, STAFF_STATUS_WORDS[t.status]),
    settable.map((s) => h('option', {value: s, selected: s === t.status}, STAFF_STATUS_WORDS[s])));
  const when_ = h('input', {name: 'at', type: 'datetime-local', required: true});
  show(
    h('h1', {}, `#${t.number} `, t.subject),
    h('div', {class: 'actions'}, statusBadge(t.status, true), h('span', {class: 'muted'},
      `${t.creator.display_name} · opened ${when(t.created_at)} · priority ${t.priority || 'normal'} · team ${t.team || 'none'}`)),
    flashBox,
    t.closure && t.closure.closes_at ? h('p', {class: 'notice'}, `Closes on ${when(t.closure.closes_at)}.`) : null,
    h('ol', {class: 'thread', 'aria-label': 'Messages'}, t.messages.map((m) => messageItem(m, {
      staffView: true,
      mine: m.author.realm === 'staff' && m.author.id === localStorage.getItem('portico.staff.id'),
      editable: t.status !== 'closed',
      onReact: t.status === 'closed' ? null : reactWith(run),
      ...ownMessageActions(path, run, reload),
    }))),
    h('section', {class: 'card', 'aria-labelledby': 'answer-h'}, h('h2', {id: 'answer-h'}, 'Reply or add a note'),
      form([field('Answer', box),
        h('label', {class: 'inline'}, internal, ' Internal note (only staff see it)'),
        field('Status after sending', withStatus)],
      'Send', async (f) => {
        if (!box.value.trim()) throw new ApiError(400, 'invalid_request', 'Write a message first.', 'body');
        const body = {body: box.value, internal: internal.checked};
        if (withStatus.value) body.status = withStatus.value;
        await api('POST', `${path}/messages`, body, {key: f.idempotencyKey});
        await reload();
      })),
    h('section', {class: 'card', 'aria-labelledby': 'manage-h'}, h('h2', {id: 'manage-h'}, 'Manage'),
      form([field('Status', statusSelect)], 'Change status', async () => {
        if (!statusSelect.value) throw new ApiError(400, 'invalid_request', 'Choose the new status.', 'status');
        await api('POST', `${path}/status`, {status: statusSelect.value});
        await reload();
      }),
      form([field('Priority', h('select', {name: 'priority'}, ['low', 'normal', 'high', 'urgent'].map((v) => h('option', {value: v, selected: (t.priority || 'normal') === v}, v)))),
        field('Team', h('input', {name: 'team', value: t.team || ''}), 'Empty for no team.')],
      'Save priority and team', async (f) => { await api('PATCH', path, {priority: value(f, 'priority'), team: value(f, 'team')}); await reload(); }),
      t.status === 'closed' ? null : t.status === 'closure_scheduled'
        ? h('div', {class: 'actions'}, h('button', {type: 'button', class: 'secondary', onclick: () => run('DELETE', '/scheduled-closure')}, 'Cancel the scheduled closure'))
        : form([field('Close automatically at', when_)], 'Schedule closure', async () => {
          const at = new Date(when_.value);
          if (Number.isNaN(at.getTime())) throw new ApiError(400, 'invalid_request', 'Choose a date and time.', 'at');
          await api('POST', `${path}/scheduled-closure`, {at: at.toISOString()});
          await reload();
        })),
    h('p', {}, h('a', {href: `/staff/${slug}/`}, 'Back to the queue')));
}

// ---- Routing ----

async function route() {
  ++navigation;
  window.scrollTo(0, 0);
  const parts = location.pathname.split('/').filter((s, i) => i > 0).map((s) => { try { return decodeURIComponent(s); } catch { return s; } });
  try {
    if (parts[0] === 'p' && parts[1]) return await customerRoute(parts[1], parts.slice(2).filter(Boolean));
    if (parts[0] === 'invite' && parts[1]) return await invitePage(parts[1]);
    if (parts[0] === 'staff') return await staffRoute(parts.slice(1).filter(Boolean));
    if (parts.filter(Boolean).length === 0) {
      // A project's own host name serves its portal here (portico-admin project update --host).
      const host = await api('GET', '/api/v1/host');
      return await customerRoute(host.project, []);
    }
    errorPage(new ApiError(404, 'not_found', ''));
  } catch (e) {
    errorPage(e);
  }
}

route();
