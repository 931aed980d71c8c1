/**
 * Node's TLS verification errors (`authorizationError`, and the `code` of a failed connection) as sentences an
 * operator can act on. Node takes the codes from OpenSSL's X509_V_ERR_* names, plus its own hostname check.
 */
const sentences: Record<string, (host: string) => string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: () =>
    "The CPMS's certificate is signed by a CA the broker does not trust, and the CPMS did not send the certificates in between: upload the CPMS's root CA to the tenant (CPMS CA roots), or have the CPMS send its whole chain.",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: () =>
    "The CA that issued the CPMS's certificate is not among the roots the broker trusts: upload the CPMS's root CA to the tenant (CPMS CA roots).",
  UNABLE_TO_GET_ISSUER_CERT: () => "The issuer of a certificate in the CPMS's chain is missing: have the CPMS send its whole chain.",
  SELF_SIGNED_CERT_IN_CHAIN: () =>
    "The CPMS's chain ends in a root the broker does not trust: upload that root to the tenant (CPMS CA roots).",
  DEPTH_ZERO_SELF_SIGNED_CERT: () =>
    "The CPMS presents a self-signed certificate: upload that certificate to the tenant as a CPMS CA root to trust it.",
  CERT_HAS_EXPIRED: () => "The CPMS's certificate (or one in its chain) has expired: the CPMS must renew it.",
  CERT_NOT_YET_VALID: () => "The CPMS's certificate is not valid yet: check the clocks of the broker and of the CPMS.",
  ERR_TLS_CERT_ALTNAME_INVALID: (host) =>
    `The CPMS's certificate is not issued for the host name "${host}": the CPMS URL must use a name the certificate lists.`,
  CERT_REVOKED: () => "The CPMS's certificate has been revoked.",
  CERT_SIGNATURE_FAILURE: () => "A signature in the CPMS's certificate chain does not verify.",
  INVALID_CA: () => "A certificate in the CPMS's chain is used as a CA but is not one.",
  CERT_CHAIN_TOO_LONG: () => "The CPMS's certificate chain is too long.",
  EPROTO: () => 'The TLS handshake failed: the CPMS may not speak TLS on this port, or offers no TLS version and cipher the broker accepts (TLS 1.2 at least).',
  ERR_SSL_WRONG_VERSION_NUMBER: () => 'The CPMS did not answer with TLS: is the URL wss:// on a port that speaks TLS?',
};

/** The sentence for a TLS error code; undefined for a code that is not about TLS. */
export function tlsProblem(code: string, host = ''): string | undefined {
  return Object.hasOwn(sentences, code) ? sentences[code]!(host) : undefined;
}

/** The first TLS error code named in a text (e.g. a refusal's reason "…: CERT_HAS_EXPIRED certificate has expired"). */
export function tlsCodeIn(text: string): string | undefined {
  return [...text.matchAll(/\b[A-Z][A-Z0-9_]{3,}\b/g)].map((m) => m[0]).find((code) => Object.hasOwn(sentences, code));
}
