import 'reflect-metadata';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { SecureVersion, TLSSocket } from 'node:tls';
import { X509Certificate } from '@peculiar/x509';
import { RPCServer } from 'ocpp-rpc';
import { answerBasics, type RpcServerClient } from './ocpp.ts';

export interface TlsCpmsOptions {
  /** The server certificate chain: leaf first. Its DNS SAN must contain 'localhost'. */
  certPem: string;
  keyPem: string;
  /** When set: require a client certificate that chains to this CA (profile 3). */
  clientCaPem?: string;
  /** When set: refuse with 401 the upgrades for which it returns false (profile 2). */
  basicAuth?: (identity: string, password: Buffer | undefined) => boolean;
  protocols?: string[];
  minVersion?: SecureVersion;
}

/** One upgrade the CPMS accepted, as it saw it. */
export interface TlsHandshake {
  identity: string;
  authorization?: string;
  /** The decoded Basic password (ocpp-rpc leaves it undefined when the username is not the identity). */
  password?: Buffer;
  /** subject as @peculiar/x509 prints it ('CN=CP-1, O=Acme'); fingerprint256 as node prints it. */
  clientCertificate?: { subject: string; fingerprint256: string };
}

export interface TlsCpms {
  /** wss://localhost:<port>/ocpp */
  url: string;
  port: number;
  handshakes: TlsHandshake[];
  nextClient(): Promise<RpcServerClient>;
  close(): Promise<void>;
}

/**
 * A CPMS behind real TLS (security profiles 2 and 3): an https.Server with ocpp-rpc attached through
 * handleUpgrade, answering BootNotification, Heartbeat and MeterValues as `startCpms` does.
 */
export async function startTlsCpms(options: TlsCpmsOptions): Promise<TlsCpms> {
  const rpc = new RPCServer({ protocols: options.protocols ?? ['ocpp1.6', 'ocpp2.0.1'], strictMode: true });
  const handshakes: TlsHandshake[] = [];
  const waiting: ((client: RpcServerClient) => void)[] = [];

  rpc.auth((accept, reject, handshake) => {
    if (options.basicAuth && !options.basicAuth(handshake.identity, handshake.password)) {
      reject(401, 'Unauthorized');
      return;
    }
    const peer = (handshake.request.socket as TLSSocket).getPeerX509Certificate();
    handshakes.push({
      identity: handshake.identity,
      authorization: handshake.headers.authorization,
      password: handshake.password,
      clientCertificate: peer && { subject: new X509Certificate(peer.raw).subject, fingerprint256: peer.fingerprint256 },
    });
    accept();
  });
  rpc.on('client', (client: RpcServerClient) => {
    answerBasics(client);
    waiting.shift()?.(client);
  });

  const server = https.createServer({
    cert: options.certPem,
    key: options.keyPem,
    minVersion: options.minVersion ?? 'TLSv1.2',
    ...(options.clientCaPem && { ca: options.clientCaPem, requestCert: true, rejectUnauthorized: true }),
  });
  server.on('upgrade', rpc.handleUpgrade);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `wss://localhost:${port}/ocpp`,
    port,
    handshakes,
    nextClient: () => new Promise((resolve) => waiting.push(resolve)),
    async close() {
      await rpc.close({ force: true });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
