// Browser test of tollgate's Swagger UI (/docs), as a person would use it:
// Authorize with the OAuth2 password flow, then "Try it out" / "Execute";
// then the clientCredentials flow as a registered client.
//
// Drives Debian's Chromium (/usr/bin/chromium) through playwright-core, which
// never downloads a browser of its own. Run by e2e/run.sh, which starts the
// server and creates the two users; the settings come from the environment:
//
//   E2E_BASE_URL          http://127.0.0.1:PORT
//   E2E_READER_USER/_PASSWORD    a user holding read:items
//   E2E_NOREAD_USER/_PASSWORD    a user without read:items
//   E2E_CC_CLIENT_ID/_SECRET     a client_secret_basic client allowed
//                                client_credentials, holding admin
//   E2E_OUT               where the screenshots go
//   E2E_CHROMIUM          the browser (default /usr/bin/chromium)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('E2E_BASE_URL');
const READER = { username: env('E2E_READER_USER'), password: env('E2E_READER_PASSWORD') };
const NOREAD = { username: env('E2E_NOREAD_USER'), password: env('E2E_NOREAD_PASSWORD') };
const ADMIN = { username: 'admin', password: env('E2E_ADMIN_PASSWORD') };
const CC = { id: env('E2E_CC_CLIENT_ID'), secret: env('E2E_CC_CLIENT_SECRET') };
const OUT = env('E2E_OUT');
const CHROMIUM = env('E2E_CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = 20_000;
const SPEC = await (await fetch(`${BASE}/openapi.json`)).json();
const SPEC_SCOPES = Object.keys(SPEC.components.securitySchemes.OAuth2.flows.password.scopes);

let step = 'start';
const log = (message) => console.log(`  [docs] ${message}`);
const begin = (name) => {
  step = name;
  log(name);
};
const expect = (condition, message) => {
  if (!condition) throw new Error(message);
};

/** The Authorize dialog's block of one OAuth2 flow (the dialog shows one
 * per flow the scheme declares). */
const flowBlock = (page, flow) =>
  page.locator('.dialog-ux .modal-ux .auth-container', { hasText: `(OAuth2, ${flow})` });

/** Opens the Authorize dialog, runs the password flow, checks the token
 * endpoint's answer, and closes the dialog. */
async function authorize(page, user, scopes) {
  await page.locator('.swagger-ui .auth-wrapper button.authorize').click();
  await page.locator('.dialog-ux .modal-ux').waitFor();
  const dialog = flowBlock(page, 'password');
  // The dialog offers exactly the scopes of the spec's security scheme.
  const offered = await dialog
    .locator('input[id$="-password-checkbox-OAuth2"]')
    .evaluateAll((boxes) => boxes.map((box) => box.id.replace(/-password-checkbox-OAuth2$/, '')));
  expect(
    [...offered].sort().join(' ') === [...SPEC_SCOPES].sort().join(' '),
    `the Authorize dialog offers [${offered}], the spec declares [${SPEC_SCOPES}]`,
  );
  await dialog.locator('#oauth_username').fill(user.username);
  await dialog.locator('#oauth_password').fill(user.password);
  for (const scope of scopes) {
    // The checkbox itself is hidden behind its styled label, as for a person.
    await dialog.locator(`label[for="${scope}-password-checkbox-OAuth2"]`).click();
    expect(
      await dialog.locator(`input[id="${scope}-password-checkbox-OAuth2"]`).isChecked(),
      `the ${scope} box did not tick`,
    );
  }
  const [token] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/token'),
    dialog.locator('button.authorize').click(),
  ]);
  const sent = new URLSearchParams(token.request().postData() ?? '');
  expect(
    token.status() === 200,
    `POST /token answered ${token.status()}: ${await token.text()} (sent scope=${sent.get('scope')})`,
  );
  const granted = (await token.json()).scope;
  expect(
    granted === scopes.join(' '),
    `the token carries scope "${granted}", expected "${scopes.join(' ')}"`,
  );
  // Authorized: the dialog now offers Logout instead of the form.
  await dialog.locator('button', { hasText: 'Logout' }).waitFor();
  await dialog.locator('button.btn-done').click();
  await dialog.waitFor({ state: 'detached' });
  log(`authorized as ${user.username} with scope "${granted}"`);
}

async function logout(page, flow = 'password') {
  await page.locator('.swagger-ui .auth-wrapper button.authorize').click();
  const modal = page.locator('.dialog-ux .modal-ux');
  await modal.waitFor();
  const dialog = flowBlock(page, flow);
  await dialog.locator('button', { hasText: 'Logout' }).click();
  await dialog.locator('button.authorize').waitFor();
  // Logout leaves no scope of the login ticked.
  const ticked = await dialog
    .locator('input[type="checkbox"]')
    .evaluateAll((boxes) => boxes.filter((box) => box.checked).map((box) => box.id));
  expect(ticked.length === 0, `after Logout these boxes are still ticked: ${ticked}`);
  await dialog.locator('button.btn-done').click();
  await modal.waitFor({ state: 'detached' });
}

/** The clientCredentials flow of the Authorize dialog, as a registered
 * client: its id and secret, the ticked scopes; checks what was sent and
 * the token endpoint's answer. */
async function authorizeClient(page, client, scopes) {
  await page.locator('.swagger-ui .auth-wrapper button.authorize').click();
  const modal = page.locator('.dialog-ux .modal-ux');
  await modal.waitFor();
  const dialog = flowBlock(page, 'clientCredentials');
  const offered = await dialog
    .locator('input[id$="-clientCredentials-checkbox-OAuth2"]')
    .evaluateAll((boxes) => boxes.map((box) => box.id.replace(/-clientCredentials-checkbox-OAuth2$/, '')));
  expect(
    [...offered].sort().join(' ') === [...SPEC_SCOPES].sort().join(' '),
    `the clientCredentials flow offers [${offered}], the spec declares [${SPEC_SCOPES}]`,
  );
  await dialog.locator('#client_id_clientCredentials').fill(client.id);
  await dialog.locator('#client_secret_clientCredentials').fill(client.secret);
  for (const scope of scopes) {
    await dialog.locator(`label[for="${scope}-clientCredentials-checkbox-OAuth2"]`).click();
  }
  const [token] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/token'),
    dialog.locator('button.authorize').click(),
  ]);
  const sent = new URLSearchParams(token.request().postData() ?? '');
  expect(
    sent.get('grant_type') === 'client_credentials',
    `the flow sent grant_type=${sent.get('grant_type')}`,
  );
  expect(
    token.status() === 200,
    `POST /token answered ${token.status()}: ${await token.text()} (sent ${[...sent.keys()]})`,
  );
  const body = await token.json();
  expect(body.scope === scopes.join(' '), `the client token carries scope "${body.scope}"`);
  expect(body.refresh_token === undefined, 'a client_credentials answer carries a refresh token');
  await dialog.locator('button', { hasText: 'Logout' }).waitFor();
  await dialog.locator('button.btn-done').click();
  await modal.waitFor({ state: 'detached' });
  log(`authorized as client ${client.id} with scope "${body.scope}"`);
}

/** Expands an operation, clicks "Try it out" (filling in the JSON `body`, if
 * any) and "Execute", and returns what the page shows: the status cell and
 * the response body text. */
async function execute(page, operationId, path, body) {
  const op = page.locator(`[id="${operationId}"]`);
  if ((await op.locator('.opblock-body').count()) === 0) {
    await op.locator('.opblock-summary').first().click();
  }
  const tryOut = op.locator('button.try-out__btn');
  if ((await tryOut.innerText()).includes('Try it out')) await tryOut.click();
  const clear = op.locator('button.btn-clear');
  if ((await clear.count()) > 0) await clear.click();
  if (body !== undefined) await op.locator('textarea.body-param__text').fill(JSON.stringify(body));
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === path),
    op.locator('button.execute').click(),
  ]);
  const live = op.locator('.live-responses-table');
  const status = live.locator('tbody .response .response-col_status').first();
  await status.waitFor();
  const shown = {
    status: (await status.innerText()).trim(),
    body: await live.locator('tbody .response .response-col_description').first().innerText(),
    headers: await response.allHeaders(),
  };
  expect(
    String(response.status()) === shown.status,
    `the network answered ${response.status()} but the page shows ${shown.status}`,
  );
  return { op, ...shown };
}

const profile = mkdtempSync(join(tmpdir(), 'tollgate-e2e-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 1400 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-quic',
    '--disable-sync',
  ],
});
context.setDefaultTimeout(TIMEOUT_MS);
const page = context.pages()[0] ?? (await context.newPage());
const failures = [];
page.on('pageerror', (err) => failures.push(`page error: ${err.message}`));
// Nothing the page loads is missing (the favicon included).
page.on('response', (response) => {
  if (response.status() === 404) failures.push(`404 for ${response.url()}`);
});
// The page's Content-Security-Policy must not block anything Swagger UI does.
page.on('console', (message) => {
  if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
    failures.push(`blocked by the page's policy: ${message.text()}`);
  }
});

let exitCode = 0;
try {
  begin('open /docs');
  await page.goto(`${BASE}/docs`);
  await page.locator('.swagger-ui .information-container .title').waitFor();
  await page.locator('[id="operations-Me-get_me"]').waitFor();
  // The tags in the order a user meets them.
  const tags = await page
    .locator('h3.opblock-tag[data-tag]')
    .evaluateAll((tags) => tags.map((tag) => tag.getAttribute('data-tag')));
  expect(
    tags.join(' ') === 'Token Me Items Users Clients Discovery Events System',
    `the tags show in the order ${tags.join(' ')}`,
  );

  begin('Try it out + Execute POST /token with the prefilled form, typing in username and password');
  const tokenOp = page.locator('[id="operations-Token-issue_token"]');
  await tokenOp.locator('.opblock-summary').first().click();
  await tokenOp.locator('button.try-out__btn').click();
  const field = (name) => tokenOp.locator(`tr[data-property-name="${name}"] input:not([type="checkbox"])`);
  const grantType = await tokenOp.locator('tr[data-property-name="grant_type"] select').inputValue();
  expect(grantType === 'password', `grant_type starts as "${grantType}", not "password"`);
  for (const name of ['scope', 'refresh_token', 'client_id', 'client_secret']) {
    const value = await field(name).inputValue();
    expect(value === '', `the optional field ${name} starts as "${value}", not empty`);
  }
  const passwordType = await field('password').getAttribute('type');
  expect(passwordType === 'password', `the password field is a ${passwordType} input`);
  await field('username').fill(ADMIN.username);
  await field('password').fill(ADMIN.password);
  const [tokenResponse] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/token'),
    tokenOp.locator('button.execute').click(),
  ]);
  const sentForm = new URLSearchParams(tokenResponse.request().postData() ?? '');
  expect(
    tokenResponse.status() === 200,
    `POST /token from the form answered ${tokenResponse.status()}: ${await tokenResponse.text()} (sent ${[...sentForm.keys()]})`,
  );
  // Swagger UI sends the untouched fields empty, which RFC 6749 §3.2 reads as omitted.
  const filled = [...sentForm.entries()].filter(([, value]) => value !== '').map(([name]) => name);
  expect(
    filled.sort().join(' ') === 'grant_type password username' && sentForm.get('grant_type') === 'password',
    `the form sent values for ${filled}`,
  );
  log('POST /token from the prefilled form: 200');

  begin(`Authorize (password flow) as ${READER.username}, ticking read:items`);
  await authorize(page, READER, ['read:items']);

  begin('Try it out + Execute GET /users/me');
  const me = await execute(page, 'operations-Me-get_me', '/users/me');
  expect(me.status === '200', `GET /users/me shows ${me.status}: ${me.body}`);
  expect(
    me.body.includes(`"username": "${READER.username}"`),
    `GET /users/me does not show the username ${READER.username}: ${me.body}`,
  );
  log(`GET /users/me: 200, shows "username": "${READER.username}"`);

  begin('Try it out + Execute GET /items');
  const items = await execute(page, 'operations-Items-list_items', '/items');
  expect(items.status === '200', `GET /items shows ${items.status}: ${items.body}`);
  expect(items.body.includes('"data"'), `GET /items shows no "data": ${items.body}`);
  log('GET /items: 200');

  begin('Logout');
  await logout(page);

  begin(`Authorize as ${NOREAD.username} (no read:items), ticking write:items`);
  await authorize(page, NOREAD, ['write:items']);

  begin('Execute GET /items without read:items');
  const denied = await execute(page, 'operations-Items-list_items', '/items');
  expect(denied.status === '403', `GET /items shows ${denied.status}, expected 403: ${denied.body}`);
  expect(
    denied.body.includes('insufficient_scope'),
    `the 403 body does not say insufficient_scope: ${denied.body}`,
  );
  expect(
    (denied.headers['www-authenticate'] ?? '').includes('scope="read:items"'),
    `the 403 has no WWW-Authenticate naming read:items: ${denied.headers['www-authenticate']}`,
  );
  log('GET /items: 403 insufficient_scope');

  begin(`Try it out + Execute POST /items as ${NOREAD.username}, with the prefilled example body`);
  const made = await execute(page, 'operations-Items-create_item', '/items');
  expect(made.status === '201', `POST /items shows ${made.status}: ${made.body}`);
  const example = SPEC.components.schemas.NewItem.example;
  expect(
    made.body.includes(`"name": "${example.name}"`),
    `POST /items does not show the example's item ${example.name}: ${made.body}`,
  );
  log(`POST /items with the prefilled example: 201, "${example.name}"`);

  begin('Logout');
  await logout(page);

  begin('Authorize as admin, ticking admin');
  await authorize(page, ADMIN, ['admin']);

  begin('Try it out + Execute POST /users as admin');
  const user = await execute(page, 'operations-Users-create_user', '/users', {
    username: 'made-in-docs',
    password: 'a password typed in docs',
    scopes: ['read:items'],
  });
  expect(user.status === '201', `POST /users shows ${user.status}: ${user.body}`);
  expect(user.body.includes('"made-in-docs"'), `POST /users shows no user: ${user.body}`);
  log('POST /users: 201');

  begin('Logout');
  await logout(page);

  begin(`Authorize (clientCredentials flow) as client ${CC.id}, ticking admin`);
  await authorizeClient(page, CC, ['admin']);

  begin('Try it out + Execute GET /users with the client token');
  const listed = await execute(page, 'operations-Users-list_users', '/users');
  expect(listed.status === '200', `GET /users shows ${listed.status}: ${listed.body}`);
  expect(listed.body.includes('"made-in-docs"'), `GET /users does not list made-in-docs: ${listed.body}`);
  log('GET /users: 200');

  begin('Execute GET /users/me with the client token');
  const notUser = await execute(page, 'operations-Me-get_me', '/users/me');
  expect(notUser.status === '403', `GET /users/me shows ${notUser.status}, expected 403: ${notUser.body}`);
  expect(notUser.body.includes('"forbidden"'), `the 403 body does not say forbidden: ${notUser.body}`);
  log('GET /users/me: 403 forbidden');
  await logout(page, 'clientCredentials');
  expect(failures.length === 0, failures.join('; '));

  begin('screenshot');
  // The operation's header at the top, its 403 below it.
  await denied.op.locator('.opblock-summary').evaluate((e) => e.scrollIntoView({ block: 'start' }));
  const shot = join(OUT, 'docs-final.png');
  await page.screenshot({ path: shot });
  log(`screenshot of the final state: ${shot}`);
} catch (err) {
  exitCode = 1;
  const shot = join(OUT, 'docs-failure.png');
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`  [docs] FAILED at step "${step}": ${err.message}`);
  console.error(`  [docs] screenshot of the page at the failure: ${shot}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
