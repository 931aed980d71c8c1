import 'reflect-metadata'; // before @peculiar/x509, whose DI container needs it at load time
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { station } from './support/ocpp.ts';
import { createCa, opensslCa, signCsr, type Ca } from './support/pki.ts';
import { startTlsCpms } from './support/tls-cpms.ts';

// These tests check the helpers against Node's own TLS, so that a later failure points at the broker.

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/**
 * A TLS server that greets every accepted connection with its TLS version. It records the client
 * certificate's fingerprint of each accepted connection ('none' without one) and each refused handshake.
 */
async function tlsServer(options: tls.TlsOptions) {
  const accepted: string[] = [];
  const refused: (Error & { code?: string })[] = [];
  const server = tls.createServer(options, (socket) => {
    accepted.push(socket.getPeerX509Certificate()?.fingerprint256 ?? 'none');
    socket.end(socket.getProtocol() ?? '');
  });
  server.on('tlsClientError', (error) => refused.push(error));
  servers.push(server.listen(0, '127.0.0.1'));
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, accepted, refused };
}

/** Resolves once the server's greeting arrives, i.e. after both sides accepted the handshake. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<{ greeting: string; peer: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: 'localhost', port, ...options });
    socket.once('data', (data) => {
      resolve({ greeting: data.toString(), peer: socket.getPeerX509Certificate()! });
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the greeting')));
  });
}

let ca: Ca;
beforeAll(async () => {
  ca = await createCa({ subject: 'CN=Acme Station CA, O=Acme' });
});

describe('certificates made with @peculiar/x509', () => {
  it('let a client that trusts only the CA verify an RSA and an ECDSA server certificate by DNS name and by IP', async () => {
    const names = { usage: 'server' as const, dns: ['localhost'], ip: ['127.0.0.1'] };
    const rsa = await ca.issue({ subject: 'CN=localhost, O=Acme', keyType: 'rsa', ...names });
    const ecdsa = await ca.issue({ subject: 'CN=localhost, O=Acme', keyType: 'ecdsa', ...names });
    // One server holding both, as OCPP asks of a CSMS; the client's signature algorithms pick one.
    const { port } = await tlsServer({ cert: [rsa.chainPem, ecdsa.chainPem], key: [rsa.keyPem, ecdsa.keyPem] });

    for (const [sigalgs, issued, keyType] of [
      ['rsa_pss_rsae_sha256', rsa, 'rsa'],
      ['ecdsa_secp256r1_sha256', ecdsa, 'ec'],
    ] as const) {
      for (const host of ['localhost', '127.0.0.1']) {
        const { peer } = await handshake(port, { host, ca: ca.certPem, sigalgs });
        expect(peer.publicKey.asymmetricKeyType).toBe(keyType);
        expect(peer.fingerprint256).toBe(issued.fingerprint256);
      }
    }
  });

  it('chain a leaf issued by an intermediate CA to the root through chainPem', async () => {
    const sub = await ca.intermediate({ subject: 'CN=Acme Sub CA, O=Acme', keyType: 'ecdsa' });
    const leaf = await sub.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const { port } = await tlsServer({ cert: leaf.chainPem, key: leaf.keyPem });

    await expect(handshake(port, { ca: ca.certPem })).resolves.toMatchObject({ greeting: 'TLSv1.3' });
  });

  it('give a client certificate that a server requiring certificates from the CA accepts', async () => {
    const server = await ca.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const client = await ca.issue({ subject: 'CN=CP-1, O=Acme', usage: 'client', keyType: 'ecdsa' });
    const { port, accepted } = await tlsServer({
      cert: server.chainPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true,
    });

    await handshake(port, { ca: ca.certPem, cert: client.chainPem, key: client.keyPem });
    expect(accepted).toEqual([client.fingerprint256]);
  });

  it('make an expired server certificate that the client refuses', async () => {
    const expired = await ca.issue({
      subject: 'CN=localhost', usage: 'server', dns: ['localhost'], notAfter: new Date(Date.now() - 60_000),
    });
    const { port } = await tlsServer({ cert: expired.chainPem, key: expired.keyPem });

    await expect(handshake(port, { ca: ca.certPem })).rejects.toMatchObject({ code: 'CERT_HAS_EXPIRED' });
  });

  it('make certificates of a foreign CA that neither side accepts', async () => {
    const foreign = await createCa({ subject: 'CN=Mallory CA', keyType: 'ecdsa' });
    const ours = await ca.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const theirs = await foreign.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const intruder = await foreign.issue({ subject: 'CN=CP-1', usage: 'client' });

    const plain = await tlsServer({ cert: theirs.chainPem, key: theirs.keyPem });
    await expect(handshake(plain.port, { ca: ca.certPem })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });

    const mutual = await tlsServer({
      cert: ours.chainPem, key: ours.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true,
    });
    // Node's server sends no alert for a client certificate it rejects: it drops the connection after the
    // handshake (tlsClientError ECONNRESET "socket hang up"). Under TLS 1.3 the client has already seen
    // 'secureConnect' by then, so the refusal shows on the client as a close, not as a TLS error.
    await expect(handshake(mutual.port, { ca: ca.certPem, cert: intruder.certPem, key: intruder.keyPem })).rejects.toThrow(
      'closed before the greeting',
    );
    await expect.poll(() => mutual.refused.map((error) => error.code)).toEqual(['ECONNRESET']);
    expect(mutual.accepted).toEqual([]);
  });

  it('let a TLS 1.2 server refuse a client that offers TLS 1.1 only', async () => {
    const server = await ca.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    // OpenSSL 3 allows TLS 1.0/1.1 only at security level 0 (their handshakes sign with SHA-1/MD5): at the
    // default level such a client fails locally with "no protocols available" before it sends a ClientHello,
    // which would make this test pass without the server ever refusing anything. SECLEVEL=0 makes the
    // client really offer TLS 1.1; the control server below proves it does.
    const legacy = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', ca: ca.certPem } as const;
    const strict = await tlsServer({ cert: server.chainPem, key: server.keyPem, minVersion: 'TLSv1.2' });
    await expect(handshake(strict.port, { ...legacy, ciphers: undefined })).rejects.toMatchObject({
      code: 'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
    });

    const lenient = await tlsServer({ cert: server.chainPem, key: server.keyPem, minVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    await expect(handshake(lenient.port, legacy)).resolves.toMatchObject({ greeting: 'TLSv1.1' });

    strict.refused.length = 0;
    await expect(handshake(strict.port, legacy)).rejects.toThrow();
    await expect.poll(() => strict.refused.map((error) => error.code)).toEqual(['ERR_SSL_UNSUPPORTED_PROTOCOL']);
  });

  it('sign a CSR for the key that made it', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=broker-cpms-client, O=Acme',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const certPem = await signCsr(ca, csr.toString('pem'), 'client');

    const cert = new X509Certificate(certPem);
    const keyPem = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.subject).toBe('CN=broker-cpms-client\nO=Acme');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // node's keyUsage is the extended key usage

    const server = await ca.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'] });
    const { port, accepted } = await tlsServer({
      cert: server.chainPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true,
    });
    await handshake(port, { ca: ca.certPem, cert: certPem, key: keyPem });
    expect(accepted).toEqual([cert.fingerprint256]);
  });
});

describe('certificates made with the openssl CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pki-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('load in a TLS server and client that authenticate each other', async () => {
    const made = await opensslCa(dir);
    const { port } = await tlsServer({
      cert: made.server.certPem, key: made.server.keyPem, ca: made.ca.certPem, requestCert: true, rejectUnauthorized: true,
    });

    for (const host of ['localhost', '127.0.0.1']) {
      const { peer } = await handshake(port, { host, ca: made.ca.certPem, cert: made.client.certPem, key: made.client.keyPem });
      expect(peer.subject).toBe('O=Acme\nCN=localhost');
    }
  });
});

describe('a CPMS behind TLS (startTlsCpms)', () => {
  const password = Buffer.from('00112233445566778899aabbccddeeff', 'hex'); // a binary 1.6 AuthorizationKey

  it('accepts an ocpp-rpc station with the right Basic password and client certificate, and refuses a wrong password with 401', async () => {
    const server = await ca.issue({ subject: 'CN=localhost', usage: 'server', dns: ['localhost'], keyType: 'ecdsa' });
    const client = await ca.issue({ subject: 'CN=CP-1, O=Acme', usage: 'client' });
    const cpms = await startTlsCpms({
      certPem: server.chainPem,
      keyPem: server.keyPem,
      clientCaPem: ca.certPem,
      basicAuth: (identity, given) => identity === 'CP-1' && given !== undefined && given.equals(password),
    });
    const tlsOptions = { ca: ca.certPem, cert: client.chainPem, key: client.keyPem };
    try {
      const cp = station(cpms.url, 'CP-1', ['ocpp1.6'], { password, wsOpts: tlsOptions });
      const accepted = cpms.nextClient();
      await cp.connect();
      expect((await accepted).identity).toBe('CP-1');
      await expect(cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' })).resolves.toMatchObject({
        status: 'Accepted',
      });
      expect(cpms.handshakes).toEqual([
        {
          identity: 'CP-1',
          authorization: `Basic ${Buffer.concat([Buffer.from('CP-1:'), password]).toString('base64')}`,
          password,
          clientCertificate: { subject: 'CN=CP-1, O=Acme', fingerprint256: client.fingerprint256 },
        },
      ]);
      await cp.close();

      const wrong = station(cpms.url, 'CP-1', ['ocpp1.6'], { password: 'not the password', wsOpts: tlsOptions });
      await expect(wrong.connect()).rejects.toMatchObject({ code: 401 });
      const anonymous = station(cpms.url, 'CP-1', ['ocpp1.6'], { password, wsOpts: { ca: ca.certPem } });
      await expect(anonymous.connect()).rejects.toThrow();
      expect(cpms.handshakes).toHaveLength(1);
    } finally {
      await cpms.close();
    }
  });
});
