import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate } from 'node:tls';

/** The longest chain from a station certificate to its CA that is followed. */
const MAX_DEPTH = 5;

/**
 * Checks a station's client certificate (security profile 3, OCPP 1.6 security whitepaper / 2.0.1 A00.FR.4xx):
 * it chains, through the intermediates the station sent, to one of the tenant's station CAs, every certificate
 * of the chain is valid now, and its subject CN is the station identity (and O the organization, when set).
 * Returns why not, or undefined when it passes.
 */
export function clientCertificateProblem(
  peer: DetailedPeerCertificate | undefined,
  expect: { identity: string; organization: string | null; cas: X509Certificate[]; fingerprint: string | null },
  now = new Date(),
): string | undefined {
  if (!peer?.raw) return 'no client certificate';
  const leaf = new X509Certificate(peer.raw);
  const sent: X509Certificate[] = [];
  for (let next = peer.issuerCertificate; next?.raw && sent.length < MAX_DEPTH; next = next.issuerCertificate) {
    if (next.issuerCertificate === next) break; // OpenSSL points a self-signed root at itself
    sent.push(new X509Certificate(next.raw));
  }

  let current = leaf;
  for (let depth = 0; ; depth++) {
    if (!validNow(current, now)) return `certificate "${current.subject.replaceAll('\n', ', ')}" is not valid now`;
    const ca = expect.cas.find((c) => current.checkIssued(c) && current.verify(c.publicKey));
    if (ca) {
      if (!validNow(ca, now)) return 'the station CA is not valid now';
      break;
    }
    const intermediate = sent.find((c) => c.ca && current.checkIssued(c) && current.verify(c.publicKey));
    if (!intermediate || depth >= MAX_DEPTH) return 'the certificate does not chain to the station CA of this tenant';
    current = intermediate;
  }

  const subject = parseSubject(leaf.subject);
  if (subject.CN !== expect.identity) return `certificate CN "${subject.CN ?? ''}" is not the identity`;
  if (expect.organization !== null && subject.O !== expect.organization) {
    return `certificate O "${subject.O ?? ''}" is not the tenant's organization`;
  }
  if (expect.fingerprint !== null && leaf.fingerprint256 !== expect.fingerprint) {
    return 'the certificate is not the one registered for this station';
  }
  return undefined;
}

function validNow(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/** Node gives a subject as "CN=…\nO=…" lines. */
function parseSubject(subject: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of subject.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) fields[line.slice(0, at)] ??= line.slice(at + 1);
  }
  return fields;
}
