import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it, before the library loads
import { createPrivateKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as Crypto);

export type KeyType = 'rsa' | 'ecdsa';

/** What the certificates page shows of a certificate: public facts only. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
  keyType: KeyType | 'other';
}

/** A PEM input the admin must fix; the message says what is wrong. */
export class CertificateError extends Error {}

export function facts(cert: X509Certificate): CertificateFacts {
  return {
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    sans: cert.subjectAltName?.split(', ') ?? [],
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
    keyType: keyTypeOf(cert.publicKey),
  };
}

export function keyTypeOf(key: KeyObject): KeyType | 'other' {
  const type = key.asymmetricKeyType;
  return type === 'rsa' ? 'rsa' : type === 'ec' ? 'ecdsa' : 'other';
}

/** Every certificate in a PEM text, in order. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CertificateError('No PEM certificate found (expected -----BEGIN CERTIFICATE-----)');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new CertificateError(`Certificate ${i + 1} of the PEM does not parse`);
    }
  });
}

export function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new CertificateError('The private key does not parse (expected an unencrypted PEM key)');
  }
}

/**
 * Checks an uploaded certificate chain, and its key when given: it parses, each certificate is issued and signed by
 * the next one, the first one matches the key, and none has expired.
 */
export function checkChain(pem: string, keyPem?: string, now = new Date()): { chain: X509Certificate[]; key?: KeyObject } {
  const chain = parseCertificates(pem);
  for (const [i, cert] of chain.entries()) {
    if (new Date(cert.validTo) < now) throw new CertificateError(`Certificate ${i + 1} (${facts(cert).subject}) expired on ${cert.validTo}`);
    const issuer = chain[i + 1];
    if (issuer && !(cert.checkIssued(issuer) && cert.verify(issuer.publicKey))) {
      throw new CertificateError(`Certificate ${i + 2} did not issue certificate ${i + 1}: put the chain in order, leaf first`);
    }
  }
  if (keyPem === undefined) return { chain };
  const key = parsePrivateKey(keyPem);
  if (!chain[0]!.checkPrivateKey(key)) throw new CertificateError('The private key does not belong to the first certificate');
  return { chain, key };
}

const algorithms = {
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
} as const;

async function generateKeys(type: KeyType): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithms[type], true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** RFC 4514 string for a subject from its parts (values escaped). */
export function distinguishedName(parts: { commonName: string; organization?: string | null }): string {
  const escape = (value: string) => value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
  return [`CN=${escape(parts.commonName)}`, ...(parts.organization ? [`O=${escape(parts.organization)}`] : [])].join(', ');
}

/** What a pending certificate request asks for. */
export function requestFacts(csrPem: string): { subject: string; keyType: KeyType | 'other' } {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const algorithm = csr.publicKey.algorithm.name;
  return { subject: csr.subject, keyType: algorithm === 'ECDSA' ? 'ecdsa' : algorithm.startsWith('RSA') ? 'rsa' : 'other' };
}

/** A new key pair and a PKCS#10 request for the operator's CA to sign. */
export async function createCsr(type: KeyType, subject: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await generateKeys(type);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm: algorithms[type],
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true)],
  });
  return { keyPem: await privateKeyPem(keys), csrPem: csr.toString('pem') };
}

/** The broker's own server certificate until the admin uploads one: self-signed, for these host names and addresses. */
export async function createSelfSigned(commonName: string, names: { dns: string[]; ip: string[] }): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys('rsa'); // RSA: what every station's TLS stack accepts
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: distinguishedName({ commonName, organization: 'Smart OCPP Broker' }),
    notBefore: new Date(Date.now() - 60 * 60_000),
    notAfter: new Date(Date.now() + 5 * 365 * 24 * 60 * 60_000),
    keys,
    signingAlgorithm: algorithms.rsa,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ip.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys) };
}
