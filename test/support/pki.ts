import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export type KeyType = 'rsa' | 'ecdsa';
export type Usage = 'server' | 'client';

export interface CaOptions {
  /** e.g. 'CN=Acme Station CA, O=Acme' */
  subject: string;
  keyType?: KeyType;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssueOptions {
  subject: string;
  keyType?: KeyType;
  usage: Usage;
  dns?: string[];
  ip?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

export interface Issued {
  certPem: string;
  /** PKCS#8 */
  keyPem: string;
  /** The leaf, then the intermediates up to (not including) the root. */
  chainPem: string;
  /** As node's X509Certificate.fingerprint256 gives it: 'AB:CD:…' */
  fingerprint256: string;
}

export interface Ca {
  certPem: string;
  /** PKCS#8 */
  keyPem: string;
  issue(options: IssueOptions): Promise<Issued>;
  /** A CA signed by this one; what it issues chains through it. */
  intermediate(options: CaOptions): Promise<Ca>;
}

/** What signs: a CA's certificate and key, and the intermediates above it (root excluded). */
interface Signer {
  cert: x509.X509Certificate;
  key: CryptoKey;
  chain: string[];
}

const HOUR_MS = 3_600_000;
const YEAR_MS = 365 * 24 * HOUR_MS;

// SHA-256 signatures: the RSA key carries its hash; for ECDSA the generator defaults to SHA-256.
const keyAlgorithms = {
  rsa: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256' },
} as const;

const caKeyUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

/** A self-signed root CA, RSA 2048 unless keyType is 'ecdsa'. */
export async function createCa(options: CaOptions): Promise<Ca> {
  const keys = await generateKeys(options.keyType);
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: options.subject,
    keys,
    ...validity(options),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(caKeyUsage, true),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  return toCa({ cert, key: keys.privateKey, chain: [] }, await toKeyPem(keys.privateKey));
}

/** Signs a PKCS#10 request as the operator's CA would: the CSR's subject and public key, our extensions. */
export async function signCsr(ca: Pick<Ca, 'certPem' | 'keyPem'>, csrPem: string, usage: Usage): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  if (!(await csr.verify())) throw new Error('the CSR signature does not verify');
  const signer = { cert: new x509.X509Certificate(ca.certPem), key: await importSigningKey(ca.keyPem), chain: [] };
  const names = usage === 'server' ? csr.getExtension('2.5.29.17') : null; // the requested subjectAltName
  const keyType = csr.publicKey.algorithm.name === 'ECDSA' ? 'ecdsa' : 'rsa';
  const cert = await sign(signer, csr.subjectName, csr.publicKey, validity({}), [
    ...leafExtensions(usage, keyType),
    ...(names ? [names] : []),
  ]);
  return cert.toString('pem');
}

function toCa(signer: Signer, keyPem: string): Ca {
  const certPem = signer.cert.toString('pem');
  return {
    certPem,
    keyPem,
    async issue(options) {
      const keys = await generateKeys(options.keyType);
      const names = [
        ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(options.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
      ];
      const cert = await sign(signer, options.subject, keys.publicKey, validity(options), [
        ...leafExtensions(options.usage, options.keyType ?? 'rsa'),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      ]);
      const pem = cert.toString('pem');
      return {
        certPem: pem,
        keyPem: await toKeyPem(keys.privateKey),
        chainPem: [pem, ...signer.chain].join('\n'),
        fingerprint256: new NodeX509Certificate(pem).fingerprint256,
      };
    },
    async intermediate(options) {
      const keys = await generateKeys(options.keyType);
      const cert = await sign(signer, options.subject, keys.publicKey, validity(options), [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(caKeyUsage, true),
      ]);
      const chain = [cert.toString('pem'), ...signer.chain];
      return toCa({ cert, key: keys.privateKey, chain }, await toKeyPem(keys.privateKey));
    },
  };
}

function leafExtensions(usage: Usage, keyType: KeyType): x509.Extension[] {
  const keyUsage =
    x509.KeyUsageFlags.digitalSignature | (keyType === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : 0);
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
    new x509.ExtendedKeyUsageExtension([
      usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
  ];
}

/** Issues a certificate with a random serial (the generator's default), adding SKI and AKI. */
async function sign(
  signer: Signer,
  subject: string | x509.Name,
  publicKey: CryptoKey | x509.PublicKey,
  dates: { notBefore: Date; notAfter: Date },
  extensions: x509.Extension[],
): Promise<x509.X509Certificate> {
  const issuerKeyId =
    signer.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
    (await x509.SubjectKeyIdentifierExtension.create(signer.cert.publicKey)).keyId;
  return x509.X509CertificateGenerator.create({
    subject,
    issuer: signer.cert.subjectName,
    publicKey,
    signingKey: signer.key,
    ...dates,
    extensions: [
      ...extensions,
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuerKeyId),
    ],
  });
}

/** Default validity: from an hour ago to a year ahead; a notAfter in the past alone makes an expired cert. */
function validity(options: { notBefore?: Date; notAfter?: Date }) {
  const now = Date.now();
  const notAfter = options.notAfter ?? new Date(now + YEAR_MS);
  const notBefore = options.notBefore ?? new Date(Math.min(now - HOUR_MS, notAfter.getTime() - YEAR_MS));
  return { notBefore, notAfter };
}

function generateKeys(keyType: KeyType = 'rsa'): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(keyAlgorithms[keyType], true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function toKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Imports a PEM private key (RSA or EC, PKCS#8 or not) for signing. */
function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const key = createPrivateKey(keyPem);
  const algorithm = keyAlgorithms[key.asymmetricKeyType === 'ec' ? 'ecdsa' : 'rsa'];
  return crypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
}

export interface PemPair {
  certPem: string;
  keyPem: string;
}

const run = promisify(execFile);

// Written to a file and passed with -config so the system's openssl.cnf plays no part.
const opensslConfig = `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/**
 * A CA (RSA), a server certificate (ECDSA P-256, SAN localhost and 127.0.0.1) and a client certificate
 * (RSA, CN=CP-OPENSSL) made with the openssl CLI as an operator would, in `dir`.
 */
export async function opensslCa(dir: string): Promise<{ ca: PemPair; server: PemPair; client: PemPair }> {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  await writeFile(file('openssl.cnf'), opensslConfig);

  await openssl('req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca', '-newkey', 'rsa:2048', '-noenc',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-sha256', '-days', '365', '-subj', '/O=Acme/CN=Acme Operator CA');

  const issue = async (name: string, newkey: string[], subject: string) => {
    await openssl('req', '-new', '-config', 'openssl.cnf', ...newkey, '-noenc', '-keyout', `${name}.key`,
      '-out', `${name}.csr`, '-subj', subject);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-sha256', '-days', '365', '-extfile', 'openssl.cnf', '-extensions', name);
    return pair(name);
  };
  const pair = async (name: string) => ({
    certPem: await readFile(file(`${name}.crt`), 'utf8'),
    keyPem: await readFile(file(`${name}.key`), 'utf8'),
  });

  return {
    ca: await pair('ca'),
    server: await issue('server', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/O=Acme/CN=localhost'),
    client: await issue('client', ['-newkey', 'rsa:2048'], '/O=Acme/CN=CP-OPENSSL'),
  };
}
