import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** What a raw socket saw: frames as received (bytes) and how it was closed. */
export interface Recorder {
  frames: Buffer[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `count` frames have arrived. */
  received(count: number): Promise<Buffer[]>;
}

export function record(ws: WebSocket): Recorder {
  const frames: Buffer[] = [];
  const waiters: { count: number; resolve: (frames: Buffer[]) => void }[] = [];
  ws.on('message', (data: Buffer) => {
    frames.push(data);
    for (const w of waiters.filter((w) => frames.length >= w.count)) w.resolve(frames.slice(0, w.count));
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return {
    frames,
    closed,
    received: (count) =>
      frames.length >= count ? Promise.resolve(frames.slice(0, count)) : new Promise((resolve) => waiters.push({ count, resolve })),
  };
}

/**
 * A bare WebSocket CPMS that records every frame byte for byte. The one tool here that is not an
 * OCPP implementation: it lets tests send what no OCPP library would (odd bytes, binary frames, silence).
 */
export async function startRawCpms(options: { autoPong?: boolean; protocols?: string[] } = {}) {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    autoPong: options.autoPong ?? true,
    handleProtocols: (offered) => options.protocols?.find((p) => offered.has(p)) ?? [...offered][0] ?? false,
  });
  await once(wss, 'listening');
  const connections: { ws: WebSocket; recorder: Recorder; url: string }[] = [];
  const waiting: ((c: (typeof connections)[number]) => void)[] = [];
  wss.on('connection', (ws, req) => {
    const connection = { ws, recorder: record(ws), url: req.url ?? '' };
    connections.push(connection);
    waiting.shift()?.(connection);
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    connections,
    nextConnection: () => new Promise<(typeof connections)[number]>((resolve) => waiting.push(resolve)),
    async close() {
      for (const c of connections) c.ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** A bare WebSocket station. Resolves once open, or rejects with the HTTP status of a refusal. */
export async function rawStation(url: string, options: { protocols?: string[]; autoPong?: boolean } = {}) {
  const ws = new WebSocket(url, options.protocols ?? ['ocpp1.6'], { autoPong: options.autoPong ?? true });
  const recorder = record(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  return { ws, ...recorder };
}

/** The HTTP status a WebSocket upgrade to `url` is answered with (101 when it is accepted). */
export async function upgradeStatus(url: string, protocols: string[] = ['ocpp1.6']): Promise<number> {
  try {
    const station = await rawStation(url, { protocols });
    station.ws.terminate();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}
