import { X509Certificate } from 'node:crypto';
import dns from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import tls, { type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { Refusal, type Directory, type TenantSecurity } from '../broker/index.ts';
import { upstreamCredentials, type UpstreamCredentials } from '../broker/authenticate.ts';
import { connectUpstream, createOwnHandshakes } from '../broker/upstream.ts';
import { tlsProblem } from './tls-problems.ts';
import { facts } from './tls/x509.ts';

export type StepName = 'credentials' | 'dns' | 'tcp' | 'tls' | 'upgrade' | 'subprotocol';

/** One step of a CPMS test: what was tried, whether it worked, how long it took, and what was seen. */
export interface TestStep {
  step: StepName;
  ok: boolean;
  ms: number;
  detail: string;
  /** The tls step: the chain the CPMS presented, leaf first. */
  certificates?: { subject: string; issuer: string; notBefore: Date; notAfter: Date }[];
}

export interface CpmsTestResult {
  tenantId: number;
  identity: string;
  /** The URL tested: `<cpmsUrl>/<identity>`. */
  url: string;
  ok: boolean;
  steps: TestStep[];
}

/** A test of this tenant is already running. */
export class TestBusyError extends Error {}

const PROTOCOLS: Record<string, string[]> = { '1.6': ['ocpp1.6'], '2.0.1': ['ocpp2.0.1', 'ocpp2.1'] };

/**
 * Test handshakes toward tenants' CPMSs, step by step, with the credentials and TLS settings the broker would use
 * for a station: nothing of a real station is touched, and the test link is closed with 1000 right after its
 * handshake. One test per tenant at a time; each step within `timeoutMs`.
 */
export function createCpmsTester(options: { directory: Directory; timeoutMs: number; maxPayloadBytes: number }) {
  const running = new Set<number>();

  async function run(tenant: TenantSecurity & { ocppVersion: string }, identity: string, protocols?: string[]): Promise<CpmsTestResult> {
    if (running.has(tenant.id)) throw new TestBusyError('A test of this CPMS is already running');
    running.add(tenant.id);
    try {
      const url = `${tenant.cpmsUrl}/${encodeURIComponent(identity)}`;
      const steps = await stepsOf(tenant, identity, url, protocols ?? PROTOCOLS[tenant.ocppVersion] ?? ['ocpp1.6']);
      return { tenantId: tenant.id, identity, url, ok: steps.every((s) => s.ok), steps };
    } finally {
      running.delete(tenant.id);
    }
  }

  async function stepsOf(tenant: TenantSecurity, identity: string, url: string, protocols: string[]): Promise<TestStep[]> {
    const steps: TestStep[] = [];
    const step = async <T>(name: StepName, work: () => Promise<{ value?: T; ok?: boolean; detail: string } & Partial<TestStep>>) => {
      const started = performance.now();
      try {
        const { value, ok = true, detail, certificates } = await work();
        steps.push({ step: name, ok, ms: Math.round(performance.now() - started), detail, ...(certificates && { certificates }) });
        return ok ? { value } : undefined;
      } catch (error) {
        steps.push({ step: name, ok: false, ms: Math.round(performance.now() - started), detail: (error as Error).message });
        return undefined;
      }
    };
    const target = new URL(url);
    const secure = target.protocol === 'wss:';
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    const port = Number(target.port) || (secure ? 443 : 80);

    const credentials = await step('credentials', async () => {
      const station = options.directory.station(tenant.id, identity);
      const value = upstreamCredentials({ headers: {} } as IncomingMessage, tenant, identity, station, options.directory);
      return { value, detail: describeCredentials(tenant, identity, value) };
    });
    if (!credentials) return steps;

    const resolved = await step('dns', async () => {
      const addresses = await within(dns.lookup(host, { all: true }), `no answer for ${host}`);
      return { value: addresses, detail: `${host} → ${addresses.map((a) => a.address).join(', ')}` };
    });
    if (!resolved) return steps;
    const address = resolved.value![0]!.address;

    const socket = await step('tcp', async () => {
      const value = await connectTcp(address, port, options.timeoutMs);
      return { value, detail: `connected to ${net.isIPv6(address) ? `[${address}]` : address}:${port}` };
    });
    if (!socket) return steps;

    if (!secure) {
      socket.value!.destroy();
    } else {
      const checked = await step('tls', async () => {
        const secured = await connectTls(socket.value!, host, credentials.value!.tls, options.timeoutMs);
        const version = secured.getProtocol();
        const certificates = chainOf(secured.getPeerCertificate(true));
        secured.destroy();
        const sentence = secured.authorizationError ? tlsProblem(String(secured.authorizationError), host) : undefined;
        return {
          ok: secured.authorized,
          detail: secured.authorized
            ? `${version}; the certificate is trusted (${credentials.value!.tls.ca ? "the tenant's CPMS CA roots" : "the system's roots"}) and issued for ${host}`
            : `${version}; not trusted: ${sentence ?? 'Node reports'} (${secured.authorizationError})`,
          certificates,
        };
      });
      if (!checked) return steps;
    }

    const opened = await step('upgrade', async () => {
      try {
        const ws = await connectUpstream({
          url,
          protocols,
          headers: credentials.value!.headers,
          tls: credentials.value!.tls,
          timeoutMs: options.timeoutMs,
          maxPayloadBytes: options.maxPayloadBytes,
          signal: new AbortController().signal,
          ownHandshakes: createOwnHandshakes(), // a test handshake: nothing can loop back through it
        });
        ws.on('error', () => {});
        const protocol = ws.protocol;
        ws.close(1000, 'Broker test handshake');
        return { value: protocol, detail: `HTTP 101 Switching Protocols; the test link was closed with 1000` };
      } catch (error) {
        if (error instanceof Refusal) return { ok: false, detail: `${error.message} (a station would get ${error.status})` };
        throw error;
      }
    });
    if (!opened) return steps;

    await step('subprotocol', async () => {
      const selected = opened.value;
      return selected
        ? { detail: `the CPMS selected ${selected} (offered: ${protocols.join(', ')})` }
        : { ok: protocols.length === 0, detail: `the CPMS selected no subprotocol (offered: ${protocols.join(', ') || 'none'})` };
    });
    return steps;
  }

  /** Rejects after the timeout. */
  function within<T>(work: Promise<T>, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${options.timeoutMs} ms`)), options.timeoutMs);
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  return { run, running: (tenantId: number) => running.has(tenantId) };
}

export type CpmsTester = ReturnType<typeof createCpmsTester>;

function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`));
    });
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (error: Error & { code?: string }) => reject(new Error(error.code ? `${error.code}: ${error.message}` : error.message)));
  });
}

/** TLS as the broker would do it, but without refusing: so that the reason can be told. Hostname checked too. */
function connectTls(socket: net.Socket, host: string, options: UpstreamCredentials['tls'], timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${host} within ${timeoutMs} ms`));
    }, timeoutMs);
    const secured = tls.connect({
      socket,
      host,
      servername: net.isIP(host) ? undefined : host,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: false,
      ...options,
    });
    secured.once('secureConnect', () => {
      clearTimeout(timer);
      secured.on('error', () => {});
      resolve(secured);
    });
    secured.once('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      const sentence = error.code ? tlsProblem(error.code, host) : undefined;
      reject(new Error(sentence ? `${sentence} (${error.code})` : `${error.code ?? ''} ${error.message}`.trim()));
    });
  });
}

function chainOf(leaf: DetailedPeerCertificate): TestStep['certificates'] {
  const chain: NonNullable<TestStep['certificates']> = [];
  for (let cert: DetailedPeerCertificate | undefined = leaf; cert?.raw && chain.length < 10; ) {
    const { subject, issuer, notBefore, notAfter } = facts(new X509Certificate(cert.raw));
    chain.push({ subject, issuer, notBefore, notAfter });
    cert = cert.issuerCertificate === cert ? undefined : cert.issuerCertificate;
  }
  return chain;
}

function describeCredentials(tenant: TenantSecurity, identity: string, credentials: UpstreamCredentials): string {
  const parts: string[] = [];
  if (credentials.headers.authorization) parts.push(`Basic auth as ${identity} with the CPMS password stored for it`);
  else if (tenant.cpmsAuth === 'passthrough' && tenant.cpmsProfile > 0) {
    parts.push("pass-through: a station's own Authorization header would go on; the test sends none");
  } else parts.push('no Basic auth');
  if (credentials.tls.cert) parts.push('the client certificate for the CPMS');
  if (credentials.tls.ca) parts.push(`${credentials.tls.ca.length} CPMS CA root(s) of the tenant`);
  return parts.join('; ');
}
