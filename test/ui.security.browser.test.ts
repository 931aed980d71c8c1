import 'reflect-metadata'; // test/support/pki.ts: @peculiar/x509 needs it before it loads
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { browserTest } from './support/browser.ts';
import { station } from './support/ocpp.ts';
import { createCa, signCsr, type Ca } from './support/pki.ts';

// Dates are compared as the page formats them.
const ui = browserTest({ cpms: ['ocpp1.6'], page: { locale: 'en-US' } });
/** How often the tenant page refreshes what is connected. */
const REFRESH_MS = 2_000;
const DAY_MS = 24 * 60 * 60_000;

const field = (label: string) => ui.page.getByLabel(label, { exact: true });
const nav = (name: string) => ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const button = (name: string) => ui.page.getByRole('button', { name, exact: true });

/** The error message shown for the field with this label: the one its aria-describedby points to. */
function errorUnder(label: string): Promise<string | null> {
  return field(label).evaluate((input) => {
    const ids = input.getAttribute('aria-describedby')?.split(' ') ?? [];
    const error = ids.map((id) => document.getElementById(id)).find((element) => element?.classList.contains('error'));
    return error?.textContent ?? null;
  });
}

/** The error message of a radio group (a fieldset with this legend). */
function groupError(legend: string): Promise<string | null> {
  return ui.page.getByRole('group', { name: legend, exact: true }).evaluate((group) => {
    const id = group.getAttribute('aria-describedby');
    return (id && document.getElementById(id)?.textContent) || null;
  });
}

/** A radio of the group with this legend, by the start of its label. */
const radio = (legend: string, label: RegExp) => ui.page.getByRole('group', { name: legend, exact: true }).getByRole('radio', { name: label });

/** The row of the station registry whose identity is `identity`. */
function registryRow(identity: string) {
  return ui.page
    .getByTestId('registry')
    .getByRole('row')
    .filter({ has: ui.page.getByRole('rowheader', { name: identity, exact: true }) });
}

/** The text of one column of a registry row (2: description, 3: now, 4: password, 5: CPMS password, 6: certificate). */
const registryCell = (identity: string, n: number) => registryRow(identity).locator(`td:nth-child(${n})`).innerText();

/** The rows of the certificates table that contain this text. */
const certificateRow = (text: string | RegExp) => ui.page.getByTestId('certificates').getByRole('row').filter({ hasText: text });

/** A station (OCPP 1.6) that is closed after the tests. */
function track(cp: ReturnType<typeof station>) {
  ui.stations.push(cp);
  return cp;
}

describe('security profiles in the admin UI', () => {
  let tenantId: number;
  let ws: string;
  let wss: string;
  let stationCa: Ca;
  let serverPem: string;

  it('creates a tenant with station profile 1 through the form, after showing the field errors of the shared schema', async () => {
    await ui.page.goto(`${ui.url}/tenants/new`);
    await field('Name').fill('Secure Charging');
    await field('Slug').fill('secure');
    await field('CPMS URL').fill(ui.cpms.url);
    await ui.page.locator('summary', { hasText: 'Security' }).click();
    await radio('CPMS profile', /^Profile 2\b/).check();
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();

    await expect.poll(() => errorUnder('CPMS URL')).toBe('Profile 2 toward the CPMS needs a wss:// URL');
    // Stations on profile 0 send no header to pass on: the form chose a stored password toward the CPMS by itself.
    expect(await groupError('Password toward the CPMS')).toBeNull();
    expect(await radio('Password toward the CPMS', /^Stored/).isChecked()).toBe(true);
    expect(await ui.broker.api.tenants.list.query()).toEqual([]);

    await radio('CPMS profile', /^Profile 0\b/).check();
    await radio('Station profile', /^Profile 1\b/).check();
    expect(await field('Accept profile 1 over TLS too').isChecked()).toBe(true);
    await ui.page.getByRole('button', { name: 'Create tenant' }).click();
    await ui.page.waitForURL(/\/tenants\/\d+$/);
    tenantId = Number(new URL(ui.page.url()).pathname.split('/').at(-1));

    ws = `ws://127.0.0.1:${ui.broker.server.port}/ocpp/secure`;
    wss = `wss://127.0.0.1:${ui.broker.server.tlsPort}/ocpp/secure`;
    expect(await ui.page.getByTestId('station-url').innerText()).toBe(ws);
    expect(await ui.page.getByTestId('station-url-tls').innerText()).toBe(wss);
    expect(await ui.broker.api.tenants.get.query({ id: tenantId })).toMatchObject({
      stationProfile: 1,
      profile1OverTls: true,
      allowUnknownStations: false,
      cpmsProfile: 0,
      cpmsAuth: 'passthrough',
    });
  });

  it('registers CP-1 and sets its password in the UI; it connects with it, and a wrong password gets 401', async () => {
    await ui.page.getByTestId('no-registered-stations').waitFor();
    await field('Identity').fill('CP-1');
    await field('Description (optional)').fill('Car park, left');
    await button('Register station').click();
    await registryRow('CP-1').waitFor();
    expect(await registryCell('CP-1', 2)).toBe('Car park, left');
    expect(await registryCell('CP-1', 4)).toBe('Missing');

    // A station just registered opens its panel, for its password.
    const password = ui.page.getByRole('form', { name: 'Password of CP-1', exact: true });
    await password.getByLabel('New password', { exact: true }).fill('too short');
    await password.getByRole('button', { name: 'Set password' }).click();
    await expect.poll(() => errorUnder('New password')).toMatch(/^From 16 to 64 bytes/);
    await password.getByRole('radio', { name: /^Text/ }).check();
    await password.getByLabel('New password', { exact: true }).fill('a station password');
    await password.getByRole('button', { name: 'Set password' }).click();
    await password.getByRole('status').filter({ hasText: 'Password set' }).waitFor();
    await expect.poll(() => registryCell('CP-1', 4)).toBe('Set');
    expect(await registryCell('CP-1', 3)).toBe('Not connected');

    const cp = track(station(ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' }));
    await cp.connect();
    await expect.poll(() => registryCell('CP-1', 3), { timeout: REFRESH_MS * 2 }).toBe('Connected');
    await expect(track(station(ws, 'CP-1', ['ocpp1.6'], { password: 'not the password' })).connect()).rejects.toMatchObject({ code: 401 });
    await cp.close();
    await expect.poll(() => registryCell('CP-1', 3), { timeout: REFRESH_MS * 2 }).toBe('Not connected');
  });

  it('warns, without refusing, about an identity with a space while it is typed, and refuses one with a C1 control with the broker’s reason', async () => {
    await field('Identity').fill('CP 2');
    await expect.poll(() => ui.page.getByTestId('identity-warning').innerText()).toMatch(/a space: stations must send it percent-encoded.*%20/);
    await field('Identity').fill('CP-2');
    await ui.page.getByTestId('identity-warning').waitFor({ state: 'detached' });
    await field('Identity').fill('CP\u0085');
    await button('Register station').click();
    await expect.poll(() => errorUnder('Identity')).toMatch(/^The identity contains control characters/);
    await field('Identity').fill('');
  });

  it('generates an OCPP 1.6 AuthorizationKey in the browser and shows it once; the station connects with its bytes', async () => {
    const password = ui.page.getByRole('form', { name: 'Password of CP-1', exact: true });
    await password.getByRole('radio', { name: /^Hex/ }).check();
    await password.getByRole('button', { name: 'Generate' }).click();
    const generated = await password.getByTestId('generated-password').innerText();
    expect(generated).toMatch(/^[0-9A-F]{40}$/);

    const cp = track(station(ws, 'CP-1', ['ocpp1.6'], { password: Buffer.from(generated, 'hex') }));
    await cp.connect();
    await cp.close();
    await expect(track(station(ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' })).connect()).rejects.toMatchObject({ code: 401 });

    await password.getByRole('button', { name: 'Done' }).click();
    expect(await ui.page.getByTestId('generated-password').count()).toBe(0);
  });

  it('downloads the broker certificate and uploads a station CA on the certificates page', async () => {
    await nav('Certificates').click();
    await ui.page.getByRole('heading', { name: 'Certificates', level: 1 }).waitFor();
    const [download] = await Promise.all([ui.page.waitForEvent('download'), button('Download the broker’s certificate (PEM)').click()]);
    expect(download.suggestedFilename()).toBe('broker-certificate.pem');
    serverPem = await readFile((await download.path())!, 'utf8');
    expect(serverPem).toBe(await ui.broker.api.certificates.serverPem.query());
    expect(await certificateRow("The broker's TLS listener").innerText()).toContain(new X509Certificate(serverPem).fingerprint256);

    stationCa = await createCa({ subject: 'CN=Secure Station CA, O=Secure' });
    await field('Tenant').selectOption({ label: 'Secure Charging' });
    await ui.page.getByRole('radio', { name: /^Station CA/ }).check();
    await field('Certificate (PEM)').fill(stationCa.certPem);
    await button('Upload station CA').click();
    await ui.page.getByRole('status').filter({ hasText: 'Station CA uploaded for Secure Charging' }).waitFor();
    const row = certificateRow('Secure Station CA');
    await row.waitFor();
    expect(await row.innerText()).toContain('Secure Charging: CA that station certificates must chain to (profile 3)');
    expect(await row.innerText()).toContain(new X509Certificate(stationCa.certPem).fingerprint256);
  });

  it('switches the tenant to profile 3 in the UI; a station with a certificate from the CA connects over wss://', async () => {
    await ui.page.goto(`${ui.url}/tenants/${tenantId}`);
    const security = ui.page.getByRole('form', { name: 'Security settings' });
    await security.getByRole('group', { name: 'Station profile' }).getByRole('radio', { name: /^Profile 3\b/ }).check();
    await security.getByRole('button', { name: 'Save security settings' }).click();
    await security.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await ui.page.getByTestId('station-url').innerText()).toBe(wss);
    expect(await ui.page.getByTestId('station-url-tls').count()).toBe(0);
    expect(await ui.page.getByTestId('missing-station-ca').count()).toBe(0);
    expect(await ui.broker.api.tenants.get.query({ id: tenantId })).toMatchObject({ stationProfile: 3 });

    const secure = `wss://localhost:${ui.broker.server.tlsPort}/ocpp/secure`;
    const client = await stationCa.issue({ subject: 'CN=CP-1, O=Secure', usage: 'client' });
    const tls = (cert: { chainPem: string; keyPem: string }) => ({ wsOpts: { ca: serverPem, cert: cert.chainPem, key: cert.keyPem } });
    const cp = track(station(secure, 'CP-1', ['ocpp1.6'], tls(client)));
    await cp.connect();
    await expect.poll(() => registryCell('CP-1', 3), { timeout: REFRESH_MS * 2 }).toBe('Connected');
    await expect(track(station(ws, 'CP-1', ['ocpp1.6'], { password: 'a station password' })).connect()).rejects.toMatchObject({ code: 403 });

    // Bound to its fingerprint, CP-1 must present that very certificate.
    await ui.page.getByRole('button', { name: 'Manage CP-1' }).click();
    const certificate = ui.page.getByRole('form', { name: 'Certificate of CP-1' });
    await certificate.getByLabel('SHA-256 fingerprint', { exact: true }).fill(client.fingerprint256.toLowerCase());
    await certificate.getByRole('button', { name: 'Bind' }).click();
    await certificate.getByRole('status').filter({ hasText: 'Certificate bound' }).waitFor();
    expect(await registryCell('CP-1', 6)).toBe(`${client.fingerprint256.slice(0, 11)}…`);
    const another = await stationCa.issue({ subject: 'CN=CP-1, O=Secure', usage: 'client' });
    await expect(track(station(secure, 'CP-1', ['ocpp1.6'], tls(another))).connect()).rejects.toMatchObject({ code: 403 });
    await cp.close();
    const again = track(station(secure, 'CP-1', ['ocpp1.6'], tls(client)));
    await again.connect();
    await again.close();
  });

  it('generates a key and CSR for the tenant, and imports the certificate the CA signed for it', async () => {
    await nav('Certificates').click();
    await field('Tenant').selectOption({ label: 'Secure Charging' });
    await ui.page.getByRole('radio', { name: /^New key and certificate request/ }).check();
    await ui.page.getByRole('radio', { name: 'ECDSA P-256' }).check();
    await field('Common name (CN, optional)').fill('Secure CPMS client');
    await button('Generate key and CSR').click();
    const csrPem = await ui.page.getByTestId('csr').innerText();
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);

    const pending = certificateRow('Waiting for the signed certificate');
    await pending.waitFor();
    const [download] = await Promise.all([ui.page.waitForEvent('download'), pending.getByRole('button', { name: /^Download the request/ }).click()]);
    expect(download.suggestedFilename()).toMatch(/^secure-\d+\.csr$/);
    expect(await readFile((await download.path())!, 'utf8')).toBe(csrPem);

    const signed = await signCsr(stationCa, csrPem, 'client');
    await pending.getByRole('button', { name: /^Import the signed certificate/ }).click();
    // A certificate for another key is refused with the broker's message.
    await field('Signed certificate (PEM)').fill(stationCa.certPem);
    await button('Import').click();
    await ui.page.getByRole('alert').filter({ hasText: 'This certificate was not issued for the key of this request' }).waitFor();
    await field('Signed certificate (PEM)').fill(signed);
    await button('Import').click();

    const imported = certificateRow('CN=Secure CPMS client');
    await imported.waitFor();
    const notAfter = new Date(new X509Certificate(signed).validTo);
    const expires = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium' }).format(notAfter);
    expect(await imported.innerText()).toContain(`Expires ${expires}`);
    expect(await imported.innerText()).toContain('Secure Charging: the broker\'s client certificate toward the CPMS (profile 3)');
    expect(await certificateRow('Waiting for the signed certificate').count()).toBe(0);
  });

  it('shows the broker’s message when an uploaded server key does not match its certificate', async () => {
    const server = await stationCa.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const other = await stationCa.issue({ subject: 'CN=other', usage: 'server', dns: ['other'] });
    await field('Server certificate chain (PEM)').fill(server.chainPem);
    // The key from a file, as an admin would pick it.
    await ui.page.getByLabel('Read the Server private key (PEM) from a file').setInputFiles({
      name: 'other.key',
      mimeType: 'application/x-pem-file',
      buffer: Buffer.from(other.keyPem),
    });
    await expect.poll(() => field('Server private key (PEM)').inputValue()).toBe(other.keyPem);
    await button('Upload server certificate').click();
    await ui.page.getByRole('alert').filter({ hasText: 'The private key does not belong to the first certificate' }).waitFor();
    expect(await ui.broker.api.certificates.serverPem.query()).toBe(serverPem);
  });

  it('marks a certificate that expires within 30 days', async () => {
    const soon = await createCa({ subject: 'CN=Short-lived CA', notAfter: new Date(Date.now() + 10 * DAY_MS + 60_000) });
    await ui.broker.api.certificates.uploadCa.mutate({ tenantId, kind: 'cpms-ca', certificatePem: soon.certPem });
    await ui.page.reload();
    const row = certificateRow('Short-lived CA');
    await row.waitFor();
    expect(await row.innerText()).toContain('Expires in 10 days');
    expect(await row.getAttribute('class')).toMatch(/\bexpiring\b/);
    expect(await ui.page.getByTestId('expiring').innerText()).toMatch(/^One certificate has expired or expires within 30 days/);
    expect((await certificateRow('CA that station certificates must chain to').getAttribute('class')) ?? '').not.toMatch(/\bexpir/);
  });

  it('refuses a server certificate as CPMS CA roots, with the broker’s reason under the certificate field', async () => {
    const server = await stationCa.issue({ subject: 'CN=cpms.example.com', usage: 'server', dns: ['cpms.example.com'] });
    await field('Tenant').selectOption({ label: 'Secure Charging' });
    await ui.page.getByRole('radio', { name: /^CPMS CA roots/ }).check();
    await field('Certificate (PEM)').fill(server.certPem);
    await button('Upload CPMS CA roots').click();
    await expect.poll(() => errorUnder('Certificate (PEM)')).toMatch(/^This certificate \(CN=cpms\.example\.com\) is not a CA/);
    expect(await field('Certificate (PEM)').evaluate((textarea) => textarea === document.activeElement)).toBe(true);
    expect(await certificateRow('CN=cpms.example.com').count()).toBe(0);
  });
});
