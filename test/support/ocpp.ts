import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RPCClient, RPCServer } from 'ocpp-rpc';
import type RpcServerClientType from 'ocpp-rpc/lib/server-client';

/** A station's connection as the CPMS sees it. */
export type RpcServerClient = RpcServerClientType;

export interface TestCpms {
  rpc: RPCServer;
  port: number;
  url: string;
  /** Every station connection the CPMS accepted, in order. */
  clients: RpcServerClient[];
  /** The transaction calls (Authorize, Start/StopTransaction, TransactionEvent) it answered. 1.6 transaction ids count from 4711. */
  calls: { identity: string; action: string; params: unknown }[];
  /** Resolves with the next station connection the CPMS accepts. */
  nextClient(): Promise<RpcServerClient>;
  close(): Promise<void>;
}

/**
 * A CPMS played by ocpp-rpc, an independent OCPP-J implementation. It answers the station calls the broker
 * cares about as a CPMS would, validating payloads against the official schemas (strict mode).
 */
/** Answers BootNotification (Accepted, Heartbeat every 300 s), Heartbeat and MeterValues as a CPMS does. */
export function answerBasics(client: RpcServerClient): void {
  client.handle('BootNotification', async () => ({ status: 'Accepted', interval: 300, currentTime: new Date().toISOString() }));
  client.handle('Heartbeat', async () => ({ currentTime: new Date().toISOString() }));
  client.handle('MeterValues', async () => ({}));
}

export async function startCpms(
  options: { protocols?: string[]; port?: number; strictMode?: boolean } = {},
): Promise<TestCpms> {
  const protocols = options.protocols ?? ['ocpp1.6', 'ocpp2.0.1'];
  const rpc = new RPCServer({ protocols, strictMode: options.strictMode ?? true });
  const clients: RpcServerClient[] = [];
  const calls: { identity: string; action: string; params: unknown }[] = [];
  let nextTransactionId = 4711;
  const waiting: ((client: RpcServerClient) => void)[] = [];
  rpc.on('client', (client: RpcServerClient) => {
    answerBasics(client);
    client.handle('StatusNotification', async () => ({}));
    client.handle('Authorize', async ({ params }) => {
      calls.push({ identity: client.identity ?? '', action: 'Authorize', params });
      return client.protocol === 'ocpp1.6' ? { idTagInfo: { status: 'Accepted' } } : { idTokenInfo: { status: 'Accepted' } };
    });
    client.handle('StartTransaction', async ({ params }) => {
      calls.push({ identity: client.identity ?? '', action: 'StartTransaction', params });
      return { transactionId: nextTransactionId++, idTagInfo: { status: 'Accepted' } };
    });
    client.handle('StopTransaction', async ({ params }) => {
      calls.push({ identity: client.identity ?? '', action: 'StopTransaction', params });
      return { idTagInfo: { status: 'Accepted' } };
    });
    client.handle('TransactionEvent', async ({ params }) => {
      calls.push({ identity: client.identity ?? '', action: 'TransactionEvent', params });
      return {};
    });
    clients.push(client);
    waiting.shift()?.(client);
  });
  const http = await rpc.listen(options.port ?? 0, '127.0.0.1');
  const port = (http.address() as AddressInfo).port;
  return {
    rpc,
    port,
    url: `ws://127.0.0.1:${port}/ocpp`,
    clients,
    calls,
    nextClient: () => new Promise((resolve) => waiting.push(resolve)),
    close: () => rpc.close({ force: true }) as Promise<void>,
  };
}

/** A station played by ocpp-rpc. It does not reconnect by itself. */
export function station(endpoint: string, identity: string, protocols: string[], extra: Record<string, unknown> = {}) {
  const options = { endpoint, identity, protocols, reconnect: false, strictMode: protocols.length > 0, ...extra };
  // ocpp-rpc's typings mark every option as required although all but endpoint and identity have defaults.
  return new RPCClient(options as unknown as ConstructorParameters<typeof RPCClient>[0]);
}

/** A port on which nothing listens (yet). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** What a station's connection attempt ends with: 101 when accepted (it is then closed), the HTTP status, or the error code. */
export async function attempt(cp: ReturnType<typeof station>): Promise<number | string> {
  try {
    await cp.connect();
    await cp.close({ force: true });
    return 101;
  } catch (error) {
    return (error as { code?: number | string }).code ?? String(error);
  }
}
